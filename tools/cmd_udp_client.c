/*
 * ustack udp-client: sends datagrams of deterministic content to an echo server from a ustack
 * stack, checks that each comes back identical, and prints the SHA-256 of everything sent.
 *
 *   ustack udp-client --link L --addr A/P --server IP:PORT [--size BYTES] [--count N]
 *                     [--timeout-ms MS]
 *
 * Exit status 0 if every datagram came back intact; 1 otherwise (the reason is printed, with the
 * errno name for socket errors, e.g. ECONNREFUSED); 2 for a usage error.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ustack.h"

struct client_opts {
    struct sockaddr_in server;
    unsigned long size, count, timeout_ms;
};

static int client_usage(FILE *f, int status)
{
    fprintf(f, "usage: ustack udp-client --link LINK --addr ADDR/PREFIX --server IP:PORT\n"
               "                         [--size BYTES] [--count N] [--timeout-ms MS] [OPTIONS]\n");
    return status;
}

static int parse_opts(int *argc, char **argv, struct client_opts *o)
{
    *o = (struct client_opts){ .size = 64, .count = 1, .timeout_ms = 2000 };
    bool have_server = false;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < *argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--server") == 0 && v)
            bad = tool_parse_ipv4(v, &o->server, true), have_server = true;
        else if (strcmp(a, "--size") == 0 && v)
            bad = tool_parse_uint(v, 65507, &o->size);
        else if (strcmp(a, "--count") == 0 && v)
            bad = tool_parse_uint(v, 100000000, &o->count);
        else if (strcmp(a, "--timeout-ms") == 0 && v)
            bad = tool_parse_uint(v, 3600000, &o->timeout_ms);
        else {
            argv[out++] = argv[i];
            continue;
        }
        if (bad)
            return fprintf(stderr, "ustack udp-client: %s %s: invalid\n", a, v), 2;
        i++;
    }
    *argc = out;
    return have_server ? 0 : client_usage(stderr, 2);
}

static const char *errno_name(int e)
{
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EAGAIN: return "EAGAIN (timed out)";
    case EMSGSIZE: return "EMSGSIZE";
    default: return strerror(e);
    }
}

static void fill(uint8_t *buf, size_t len, unsigned long n)
{
    uint32_t x = (uint32_t)n * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}

static int exchange(int fd, const struct client_opts *o, EVP_MD_CTX *md)
{
    static uint8_t out[65536], in[65536];
    for (unsigned long n = 0; n < o->count; n++) {
        fill(out, o->size, n);
        EVP_DigestUpdate(md, out, o->size);
        if (ust_send(fd, out, o->size, 0) < 0) {
            printf("udp-client: send: %s\n", errno_name(errno));
            return 1;
        }
        ssize_t r = ust_recv(fd, in, sizeof(in), 0);
        if (r < 0) {
            printf("udp-client: datagram %lu: %s\n", n, errno_name(errno));
            return 1;
        }
        if ((size_t)r != o->size || memcmp(in, out, o->size) != 0) {
            printf("udp-client: datagram %lu came back different (%zd bytes)\n", n, r);
            return 1;
        }
    }
    return 0;
}

int cmd_udp_client(int argc, char **argv)
{
    struct client_opts o;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return client_usage(stdout, 0);
    int status = parse_opts(&argc, argv, &o);
    if (status)
        return status;
    struct ust_config cfg;
    struct ust_stack *s = tool_stack("udp-client", &cfg, &argc, argv, &status);
    if (!s)
        return status < 0 ? client_usage(stdout, 0) : status;
    int fd = ust_socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = { .tv_sec = (time_t)(o.timeout_ms / 1000),
                          .tv_usec = (suseconds_t)(o.timeout_ms % 1000 * 1000) };
    if (fd < 0 || ust_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        ust_connect(fd, (struct sockaddr *)&o.server, sizeof(o.server)) < 0) {
        printf("udp-client: socket: %s\n", errno_name(errno));
        ust_stack_destroy(s);
        return 1;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    status = exchange(fd, &o, md);
    uint8_t digest[32];
    unsigned dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    if (status == 0) {
        char hex[65];
        tool_hex(digest, 32, hex);
        printf("udp-client: %lu/%lu echoed, sha256 %s\n", o.count, o.count, hex);
    }
    ust_close(fd);
    ust_stack_destroy(s);
    return status;
}
