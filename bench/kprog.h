/*
 * What the benchmarks' kernel-socket programs (udp_rtt.c, tcp_bulk.c) share: a stop flag set by
 * signals, the monotonic clock in nanoseconds, dying with a message, parsing numbers and IPv4
 * addresses from the command line. Header-only: these
 * programs link nothing of ustack's.
 */
#ifndef UST_BENCH_KPROG_H
#define UST_BENCH_KPROG_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The program's name for messages; each program defines it. */
extern const char *const kprog_name;

static volatile sig_atomic_t stop_requested;

static inline void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2), unused));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", kprog_name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* A number for option `name` within [min, max], or die. */
static unsigned long long parse_num(const char *name, const char *text, unsigned long long min,
                                    unsigned long long max) __attribute__((unused));
static unsigned long long parse_num(const char *name, const char *text, unsigned long long min,
                                    unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        die("%s %s: expected a number from %llu to %llu", name, text, min, max);
    return v;
}

static inline struct sockaddr_in sockaddr_of(const char *ip, unsigned long port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
        die("%s: not an IPv4 address", ip);
    return sin;
}

/* SIGINT, SIGTERM and SIGALRM set stop_requested, without SA_RESTART so that blocked calls see
 * EINTR; a peer's reset must not kill the program (SIGPIPE ignored). */
static inline void handle_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

#endif
