/*
 * Helpers shared by the ustack subcommands: building a stack from the environment and the
 * command line, parsing addresses, hashing transferred bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcp/tcp.h"
#include "ustack.h"

struct ust_stack *tool_stack(const char *cmd, struct ust_config *cfg, int *argc, char **argv,
                             int *status)
{
    char err[160];
    ust_config_defaults(cfg);
    if (ust_config_from_env(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "ustack %s: %s\n", cmd, err);
        *status = 2;
        return NULL;
    }
    *status = tool_config_args(cfg, argc, argv);
    if (*status)
        return NULL;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *status = -1;   /* the caller prints its usage */
            return NULL;
        }
    }
    struct ust_stack *s = ust_stack_create(cfg);
    if (!s) {
        fprintf(stderr, "ustack %s: cannot create the stack: %s\n", cmd, strerror(errno));
        *status = 1;
    }
    return s;
}

int tool_parse_ipv4(const char *text, struct sockaddr_in *out, bool need_port)
{
    char host[64];
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    if (len >= sizeof(host) || (need_port && !colon))
        return -EINVAL;
    memcpy(host, text, len);
    host[len] = 0;
    *out = (struct sockaddr_in){ .sin_family = AF_INET };
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return -EINVAL;
    if (colon) {
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535)
            return -EINVAL;
        out->sin_port = htons((uint16_t)port);
    }
    return 0;
}

int tool_parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || end == text || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

void tool_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- The test stream: 8-byte word i (little-endian) is splitmix64(i) ---- */

static inline uint64_t stream_word(uint64_t i)
{
    uint64_t z = i * UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void tool_stream_fill(uint64_t offset, uint8_t *buf, size_t n)
{
    size_t i = 0;
    /* An unaligned start: finish its word byte by byte. */
    while (i < n && ((offset + i) & 7)) {
        uint64_t w = stream_word((offset + i) >> 3);
        buf[i] = (uint8_t)(w >> (8 * ((offset + i) & 7)));
        i++;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w = stream_word((offset + i) >> 3);
        memcpy(buf + i, &w, 8);   /* x86 is little-endian, as the definition says */
    }
    for (; i < n; i++) {
        uint64_t w = stream_word((offset + i) >> 3);
        buf[i] = (uint8_t)(w >> (8 * ((offset + i) & 7)));
    }
}

void tool_hash_init(struct tool_hash *h)
{
    h->ctx = EVP_MD_CTX_new();
    h->bytes = 0;
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void tool_hash_update(struct tool_hash *h, const void *buf, size_t n)
{
    EVP_DigestUpdate(h->ctx, buf, n);
    h->bytes += n;
}

void tool_hash_final(struct tool_hash *h, char hex[65])
{
    uint8_t d[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(h->ctx, d, &len);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    tool_hex(d, 32, hex);
}

/* ---- Leftover connections ---- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tool_print_tcp_live(struct ust_stack *s, FILE *f, unsigned settle_ms)
{
    uint64_t end = mono_ms() + settle_ms;
    /* Closes in progress need the peer's last ACKs, which may still wait in the link: take
     * them in (and run due timers) until nothing is left or the time is up. */
    while (tcp_connection_count(s) && mono_ms() < end) {
        if (ust_stack_poll(s, NULL) <= 0) {
            struct timespec nap = { .tv_nsec = 1000000 };
            nanosleep(&nap, NULL);
        }
    }
    fprintf(f, "tcp.connections_live %u\n", (unsigned)tcp_connection_count(s));
    fflush(f);
}
