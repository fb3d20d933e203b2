/*
 * ustack ping: ICMP echo requests from a ustack stack through a ping socket, reported the way
 * iputils ping reports them, so scripts can read either.
 *
 *   ustack ping --link L --addr A/P [-c COUNT] [-s SIZE] [-i INTERVAL_S] [-W TIMEOUT_S] DEST
 *
 * Exit status 0 if every request was answered, 1 otherwise, 2 for a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ustack.h"
#include "wire/icmp.h"

struct ping_opts {
    unsigned long count, size;
    double interval_s, timeout_s;
    struct sockaddr_in dest;
};

static int ping_usage(FILE *f, int status)
{
    fprintf(f, "usage: ustack ping --link LINK --addr ADDR/PREFIX [-c COUNT] [-s SIZE]\n"
               "                   [-i INTERVAL_S] [-W TIMEOUT_S] [OPTIONS] DEST\n");
    return status;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Our own flags; what is left goes to tool_stack. Returns 0, or 2 after a message. */
static int parse_opts(int *argc, char **argv, struct ping_opts *o)
{
    *o = (struct ping_opts){ .count = 4, .size = 56, .interval_s = 1.0, .timeout_s = 1.0 };
    int out = 1;
    bool have_dest = false;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < *argc;
        if (strcmp(a, "-c") == 0 && has_value) {
            if (tool_parse_uint(argv[++i], 1000000, &o->count) || o->count == 0)
                return fprintf(stderr, "ustack ping: bad -c\n"), 2;
        } else if (strcmp(a, "-s") == 0 && has_value) {
            if (tool_parse_uint(argv[++i], 65507 - ICMP_HDR_LEN, &o->size))
                return fprintf(stderr, "ustack ping: bad -s\n"), 2;
        } else if ((strcmp(a, "-i") == 0 || strcmp(a, "-W") == 0) && has_value) {
            double v = strtod(argv[++i], NULL);
            if (v <= 0 || v > 3600)
                return fprintf(stderr, "ustack ping: bad %s\n", a), 2;
            *(a[1] == 'i' ? &o->interval_s : &o->timeout_s) = v;
        } else if (strncmp(a, "--", 2) == 0 && !strchr(a, '=') && has_value) {
            argv[out++] = argv[i++];      /* a runtime option and its value: tool_stack's */
            argv[out++] = argv[i];
        } else if (a[0] != '-' && !have_dest) {
            if (tool_parse_ipv4(a, &o->dest, false) != 0)
                return fprintf(stderr, "ustack ping: %s: not an IPv4 address\n", a), 2;
            have_dest = true;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    if (!have_dest)
        return ping_usage(stderr, 2);
    return 0;
}

static void fill_request(uint8_t *msg, size_t len, uint16_t seq)
{
    struct icmp_repr m = { .type = ICMP_ECHO_REQUEST, .rest = seq, .data = msg + ICMP_HDR_LEN,
                           .data_len = len - ICMP_HDR_LEN };
    for (size_t i = ICMP_HDR_LEN; i < len; i++)
        msg[i] = (uint8_t)(i + seq);
    icmp_emit(&m, msg, len);
}

/* Waits for the reply to `seq` until `deadline`. Returns 1 if it came back intact. */
static int await_reply(int fd, const uint8_t *sent, size_t len, uint16_t seq, double deadline)
{
    static uint8_t buf[65536];
    while (now_s() < deadline) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int ms = (int)((deadline - now_s()) * 1000) + 1;
        if (ust_poll(&pfd, 1, ms) <= 0)
            continue;
        ssize_t n = ust_recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        struct icmp_repr m;
        if (n < 0 || icmp_parse(buf, (size_t)n, &m) != 0 || m.type != ICMP_ECHO_REPLY)
            continue;
        if (icmp_echo_seq(&m) != seq)
            continue;   /* a late reply to an earlier request */
        return (size_t)n == len && memcmp(buf + ICMP_HDR_LEN, sent + ICMP_HDR_LEN,
                                          len - ICMP_HDR_LEN) == 0;
    }
    return 0;
}

static int run_pings(int fd, const struct ping_opts *o)
{
    static uint8_t msg[65536];
    char dest[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &o->dest.sin_addr, dest, sizeof(dest));
    size_t len = ICMP_HDR_LEN + o->size;
    printf("PING %s %lu(%zu) bytes of data.\n", dest, o->size, len + 20);
    unsigned long received = 0;
    double start = now_s(), rtt_sum = 0;
    for (unsigned long i = 0; i < o->count; i++) {
        uint16_t seq = (uint16_t)(i + 1);
        double t0 = now_s();
        fill_request(msg, len, seq);
        if (ust_sendto(fd, msg, len, 0, (const struct sockaddr *)&o->dest, sizeof(o->dest)) < 0)
            fprintf(stderr, "ustack ping: send: %s\n", strerror(errno));
        else if (await_reply(fd, msg, len, seq, t0 + o->timeout_s)) {
            double rtt = (now_s() - t0) * 1000;
            rtt_sum += rtt;
            received++;
            printf("%zu bytes from %s: icmp_seq=%u time=%.3f ms\n", len, dest, seq, rtt);
        }
        /* Wait out the interval inside ust_poll, so the stack keeps answering (ARP ...). */
        double next = t0 + o->interval_s;
        while (i + 1 < o->count && now_s() < next) {
            struct pollfd idle = { .fd = fd, .events = 0 };
            ust_poll(&idle, 1, (int)((next - now_s()) * 1000) + 1);
        }
    }
    unsigned long lost = o->count - received;
    printf("\n--- %s ping statistics ---\n", dest);
    printf("%lu packets transmitted, %lu received, %lu%% packet loss, time %.0fms\n", o->count,
           received, lost * 100 / o->count, (now_s() - start) * 1000);
    if (received)
        printf("rtt avg %.3f ms\n", rtt_sum / (double)received);
    return lost ? 1 : 0;
}

int cmd_ping(int argc, char **argv)
{
    struct ping_opts o;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return ping_usage(stdout, 0);
    int status = parse_opts(&argc, argv, &o);
    if (status)
        return status;
    struct ust_config cfg;
    struct ust_stack *s = tool_stack("ping", &cfg, &argc, argv, &status);
    if (!s)
        return status < 0 ? ping_usage(stdout, 0) : status;
    if (argc > 1) {
        fprintf(stderr, "ustack ping: unknown argument \"%s\"\n", argv[1]);
        ust_stack_destroy(s);
        return 2;
    }
    int fd = ust_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    if (fd < 0) {
        fprintf(stderr, "ustack ping: socket: %s\n", strerror(errno));
        ust_stack_destroy(s);
        return 1;
    }
    status = run_pings(fd, &o);
    ust_close(fd);
    ust_stack_destroy(s);
    return status;
}
