/*
 * What the benchmarks' kernel-socket programs (udp_rtt.c, tcp_bulk.c) share: a stop flag set by
 * signals, the monotonic clock in nanoseconds, and dying with a message. Header-only: these
 * programs link nothing of ustack's.
 */
#ifndef UST_BENCH_KPROG_H
#define UST_BENCH_KPROG_H

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

#endif
