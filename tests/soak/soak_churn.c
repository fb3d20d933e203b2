/*
 * soak_churn: connection churn between two stacks in one process, round after round, watching
 * for anything that grows (`make soak`; issue 7: flat memory and nothing leaked under churn).
 *
 * A client stack (198.18.0.1) and a server stack (198.18.0.2) share the named loop link
 * "loop:soak". Each round the client opens CONNS connections, at most CONCURRENT at a time; each
 * sends one byte, the server echoes it, the client checks it and closes, the server closes when
 * it sees the end. One thread drives both stacks with nonblocking sockets (the loop link hands
 * packets across, so two threads would free into each other's pools). After each round the
 * program waits until both stacks hold no connection and no TIME_WAIT entry (TIME_WAIT is short
 * here: tcp_time_wait_ms), then prints the round's time, the process's resident memory (RSS),
 * and per stack (client/server) the sockets, TCP control blocks, packet buffers in use and
 * socket memory charged.
 *
 * It fails (exit 1) if, after any round: the client has a socket or control block left, the
 * server anything besides its listener, a packet buffer is still in use or socket memory still
 * charged; or if, after the warm-up rounds, RSS exceeds what it was at the end of the warm-up
 * by more than the tolerance (the allocator and the kernel settle in the first rounds: the
 * pools are made resident at start, `prefault`, so what RSS shows later is the rest).
 *
 *   soak_churn [ROUNDS [CONNS [CONCURRENT [WARMUP [TOLERANCE_KIB]]]]]
 *       defaults: 10 rounds of 10,000, 256 at a time, 2 warm-up rounds, 1024 KiB
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ustack/config.h>
#include <ustack/ustack.h>

#include "net/stack.h"
#include "tcp/tcp.h"

#define PORT 7777
#define ROUND_LIMIT_S 120        /* a round that takes longer has hung */

enum slot_state { SLOT_FREE, SLOT_CONNECTING, SLOT_WAIT_ECHO };

struct slot {
    int fd;
    enum slot_state state;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static struct ust_stack *make_stack(const char *addr)
{
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    const char *opts[][2] = {
        { "link", "loop:soak" }, { "addr", addr }, { "tcp_time_wait_ms", "200" },
        { "max_sockets", "4096" }, { "tcp_rmem", "16384" }, { "tcp_wmem", "16384" },
        { "prefault", "1" }, { "pool_buffers", "4096" },   /* the pools' pages resident from the start: RSS shows the rest */
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (ust_config_set(&cfg, opts[i][0], opts[i][1]) != 0) {
            fprintf(stderr, "soak_churn: option %s=%s refused\n", opts[i][0], opts[i][1]);
            exit(2);
        }
    struct ust_stack *s = ust_stack_create(&cfg);
    if (!s) {
        fprintf(stderr, "soak_churn: stack %s: %s\n", addr, strerror(errno));
        exit(2);
    }
    return s;
}

static uint64_t counter(struct ust_stack *s, const char *name)
{
    uint64_t v = 0;
    ust_stack_counter(s, name, &v);
    return v;
}

static uint64_t buffers_in_use(struct ust_stack *s)
{
    return counter(s, "pool.allocs") - counter(s, "pool.frees") + counter(s, "bigpool.allocs") -
           counter(s, "bigpool.frees");
}

static void die(const char *what)
{
    fprintf(stderr, "soak_churn: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Server side: accept everything waiting, echo what arrives, close at the end. */
static void serve(int lfd, int *conns, unsigned *nconns, unsigned max)
{
    for (;;) {
        int fd = ust_accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN)
                die("accept");
            break;
        }
        if (*nconns == max) {
            fprintf(stderr, "soak_churn: more than %u server connections\n", max);
            exit(1);
        }
        conns[(*nconns)++] = fd;
    }
    for (unsigned i = 0; i < *nconns;) {
        char b;
        ssize_t r = ust_recv(conns[i], &b, 1, 0);
        if (r == 1) {
            if (ust_send(conns[i], &b, 1, MSG_NOSIGNAL) != 1)
                die("server send");
            continue;   /* read again: the end may be there too */
        }
        if (r < 0 && errno == EAGAIN) {
            i++;
            continue;
        }
        ust_close(conns[i]);   /* the end (0), or the connection failed */
        conns[i] = conns[--*nconns];
    }
}

/* Client side: start connections into free slots, send the byte once connected, check the echo
 * and close. Returns the connections completed. */
static unsigned drive(struct ust_stack *cs, struct slot *slots, unsigned n, unsigned *to_start)
{
    unsigned done = 0;
    struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(PORT),
                               .sin_addr.s_addr = htonl(0xc6120002u) };
    for (unsigned i = 0; i < n; i++) {
        struct slot *sl = &slots[i];
        if (sl->state == SLOT_FREE && *to_start) {
            sl->fd = ust_stack_socket(cs, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (sl->fd < 0)
                die("socket");
            if (ust_connect(sl->fd, (struct sockaddr *)&srv, sizeof(srv)) != 0 &&
                errno != EINPROGRESS)
                die("connect");
            sl->state = SLOT_CONNECTING;
            (*to_start)--;
            continue;
        }
        if (sl->state == SLOT_CONNECTING) {
            struct pollfd p = { .fd = sl->fd, .events = POLLOUT };
            if (ust_poll(&p, 1, 0) <= 0)
                continue;
            int err = 0;
            socklen_t len = sizeof(err);
            ust_getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                errno = err;
                die("connect completion");
            }
            char b = (char)i;
            if (ust_send(sl->fd, &b, 1, MSG_NOSIGNAL) != 1)
                die("client send");
            sl->state = SLOT_WAIT_ECHO;
        } else if (sl->state == SLOT_WAIT_ECHO) {
            char b;
            ssize_t r = ust_recv(sl->fd, &b, 1, 0);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r != 1 || b != (char)i) {
                fprintf(stderr, "soak_churn: slot %u: bad echo (%zd)\n", i, r);
                exit(1);
            }
            ust_close(sl->fd);
            sl->state = SLOT_FREE;
            done++;
        }
    }
    return done;
}

/* What one stack holds after a round; `listeners` sockets (and their control blocks) are
 * expected. Returns true if nothing else is left. */
static bool stack_is_clean(struct ust_stack *s, unsigned listeners, char *out, size_t cap)
{
    unsigned socks = s->n_socks, tcbs = tcp_tcb_count(s);
    uint64_t bufs = buffers_in_use(s), mem = counter(s, "sockmem.used");
    snprintf(out, cap, "%u/%u/%llu/%llu", socks, tcbs, (unsigned long long)bufs,
             (unsigned long long)mem);
    return socks == listeners && tcbs == listeners && bufs == 0 && mem == 0 &&
           tcp_connection_count(s) == 0 && tcp_time_wait_count(s) == 0;
}

/* One round: CONNS connections through, then until nothing is left. Returns its seconds, or
 * a negative number if it hung. */
static double run_round(struct ust_stack *cs, struct ust_stack *ss, int lfd, struct slot *slots,
                        unsigned conc, int *sconns, unsigned *nsconns, unsigned conns)
{
    double t0 = now_s();
    unsigned to_start = conns, done = 0;
    while (done < conns || *nsconns || tcp_connection_count(cs) || tcp_connection_count(ss) ||
           tcp_time_wait_count(cs) || tcp_time_wait_count(ss)) {
        ust_stack_poll(cs, NULL);
        ust_stack_poll(ss, NULL);
        done += drive(cs, slots, conc, &to_start);
        serve(lfd, sconns, nsconns, 4 * conc);
        if (now_s() - t0 > ROUND_LIMIT_S) {
            fprintf(stderr, "soak_churn: round hung: %u of %u done, %u server sockets, "
                    "%u/%u live connections, %u/%u in TIME_WAIT\n", done, conns, *nsconns,
                    tcp_connection_count(cs), tcp_connection_count(ss),
                    tcp_time_wait_count(cs), tcp_time_wait_count(ss));
            return -1;
        }
    }
    return now_s() - t0;
}

static bool under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#endif
#endif
    return false;
}

int main(int argc, char **argv)
{
    unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 10;
    unsigned conns = argc > 2 ? (unsigned)atoi(argv[2]) : 10000;
    unsigned conc = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
    unsigned warm = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
    long tol_kib = argc > 5 ? atol(argv[5]) : 1024;
    if (!rounds || !conns || !conc || conc > 2048 || tol_kib < 0) {
        fprintf(stderr, "usage: soak_churn [ROUNDS [CONNS [CONCURRENT<=2048 [WARMUP "
                        "[TOLERANCE_KIB]]]]]\n");
        return 2;
    }
    if (warm >= rounds)
        warm = rounds > 1 ? rounds - 1 : 1;
    struct ust_stack *cs = make_stack("198.18.0.1/24");
    struct ust_stack *ss = make_stack("198.18.0.2/24");
    int lfd = ust_stack_socket(ss, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(PORT) };
    if (lfd < 0 || ust_bind(lfd, (struct sockaddr *)&any, sizeof(any)) != 0 ||
        ust_listen(lfd, 4096) != 0)
        die("listener");
    struct slot *slots = calloc(conc, sizeof(*slots));
    int *sconns = calloc(4 * conc, sizeof(*sconns));
    if (!slots || !sconns)
        die("calloc");
    unsigned nsconns = 0;
    long rss_base = 0, rss_max = 0;
    int status = 0;
    printf("%5s %8s %8s %10s %9s   %-26s %-26s\n", "round", "conns", "seconds", "RSS KiB",
           "growth", "client socks/tcbs/bufs/mem", "server socks/tcbs/bufs/mem");
    for (unsigned r = 1; r <= rounds; r++) {
        double secs = run_round(cs, ss, lfd, slots, conc, sconns, &nsconns, conns);
        if (secs < 0)
            return 1;
        long rss = rss_kib();
        char cdesc[64], sdesc[64];
        bool clean = stack_is_clean(cs, 0, cdesc, sizeof(cdesc));
        clean &= stack_is_clean(ss, 1, sdesc, sizeof(sdesc));
        if (r == warm)
            rss_base = rss;
        if (r > warm && rss > rss_max)
            rss_max = rss;
        printf("%5u %8u %8.2f %10ld %+9ld   %-26s %-26s\n", r, conns, secs, rss,
               r > warm ? rss - rss_base : 0, cdesc, sdesc);
        fflush(stdout);
        if (!clean) {
            fprintf(stderr, "soak_churn: round %u left something behind\n", r);
            status = 1;
        }
    }
    ust_close(lfd);
    /* AddressSanitizer holds freed memory in quarantine: RSS says nothing there (its leak
     * check at exit still does). */
    if (!under_asan() && rounds > warm && rss_max > rss_base + tol_kib) {
        fprintf(stderr, "soak_churn: resident memory grew from %ld KiB (after round %u) to "
                "%ld KiB, more than %ld KiB\n", rss_base, warm, rss_max, tol_kib);
        status = 1;
    }
    ust_stack_destroy(cs);
    ust_stack_destroy(ss);
    free(slots);
    free(sconns);
    printf("soak_churn: %u rounds of %u connections, RSS after warm-up %ld KiB, largest "
           "later %ld KiB (tolerance %ld KiB): %s\n", rounds, conns, rss_base, rss_max,
           tol_kib, status ? "FAILED" : "ok: flat memory, nothing left behind");
    return status;
}
