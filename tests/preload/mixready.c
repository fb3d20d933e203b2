/*
 * mixready: what select, poll and epoll (level- and edge-triggered) report for a set that mixes
 * a pipe, an eventfd, a TCP socket and a UDP socket, step by step, as a transcript on stdout.
 *
 * tests/interop/test_preload.py runs it once on the kernel's sockets and once under
 * `ustack run` (the sockets are then ustack's, the pipe and eventfd still the kernel's) and
 * requires the two transcripts to be identical: the readiness ustack reports is Linux's.
 *
 * usage: mixready PEER_IP PORT    (a TCP and a UDP echo service on PEER_IP:PORT; the TCP one
 *                                  closes its side when it reads end of file)
 * Every wait is bounded (5 s); a wait that times out is printed as such and fails the
 * comparison rather than hanging.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

enum { F_PIPE_R, F_PIPE_W, F_EVENT, F_TCP, F_UDP, N_FD };
static const char *const names[N_FD] = { "pipe_r", "pipe_w", "eventfd", "tcp", "udp" };
static int fds[N_FD];
static struct sockaddr_in peer;

#define WAIT_MS 5000

static void die(const char *what)
{
    printf("FATAL %s: %s\n", what, strerror(errno));
    exit(1);
}

static void print_mask(unsigned ev)
{
    static const struct {
        unsigned bit;
        const char *name;
    } bits[] = { { POLLIN, "IN" }, { POLLPRI, "PRI" }, { POLLOUT, "OUT" }, { POLLERR, "ERR" },
                 { POLLHUP, "HUP" }, { POLLNVAL, "NVAL" }, { POLLRDNORM, "RDNORM" },
                 { POLLRDBAND, "RDBAND" }, { POLLWRNORM, "WRNORM" }, { POLLWRBAND, "WRBAND" },
                 { POLLRDHUP, "RDHUP" } };
    bool any = false;
    for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        if (ev & bits[i].bit) {
            printf("%s%s", any ? "|" : "", bits[i].name);
            any = true;
        }
    if (!any)
        printf("-");
}

/* ---- the four ways of asking ---- */

static void ask_poll(const char *step)
{
    struct pollfd p[N_FD];
    for (int i = 0; i < N_FD; i++)
        p[i] = (struct pollfd){ .fd = fds[i],
                                .events = POLLIN | POLLOUT | POLLPRI | POLLRDHUP |
                                          POLLRDNORM | POLLWRNORM };
    int n = poll(p, N_FD, 0);
    printf("poll %-12s n=%d", step, n);
    for (int i = 0; i < N_FD; i++) {
        printf(" %s=", names[i]);
        print_mask((unsigned)p[i].revents);
    }
    printf("\n");
}

static void ask_select(const char *step)
{
    fd_set r, w, e;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&e);
    int high = 0;
    for (int i = 0; i < N_FD; i++) {
        FD_SET(fds[i], &r);
        FD_SET(fds[i], &w);
        FD_SET(fds[i], &e);
        if (fds[i] > high)
            high = fds[i];
    }
    struct timeval tv = { 0, 0 };
    int n = select(high + 1, &r, &w, &e, &tv);
    printf("select %-10s n=%d", step, n);
    for (int i = 0; i < N_FD; i++)
        printf(" %s=%s%s%s", names[i], FD_ISSET(fds[i], &r) ? "r" : "",
               FD_ISSET(fds[i], &w) ? "w" : "", FD_ISSET(fds[i], &e) ? "e" : "");
    printf("\n");
}

static int ep_lt = -1, ep_et = -1;

static void ep_setup(void)
{
    ep_lt = epoll_create1(EPOLL_CLOEXEC);
    ep_et = epoll_create1(EPOLL_CLOEXEC);
    if (ep_lt < 0 || ep_et < 0)
        die("epoll_create1");
    for (int i = 0; i < N_FD; i++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI,
                                  .data.u32 = (uint32_t)i };
        if (epoll_ctl(ep_lt, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            die("epoll_ctl lt");
        ev.events |= EPOLLET;
        if (epoll_ctl(ep_et, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            die("epoll_ctl et");
    }
}

/* epoll_wait's answer, ordered by descriptor name (the order of the ready list is not part of
 * what Linux promises). */
static void print_epoll(const char *kind, const char *step, int ep, int timeout)
{
    struct epoll_event ev[N_FD * 2];
    int n = epoll_wait(ep, ev, N_FD * 2, timeout);
    unsigned got[N_FD] = { 0 };
    int seen[N_FD] = { 0 };
    for (int i = 0; i < n; i++) {
        uint32_t k = ev[i].data.u32;
        if (k < N_FD) {
            got[k] = ev[i].events;
            seen[k]++;
        }
    }
    printf("%s %-11s n=%d", kind, step, n);
    for (int i = 0; i < N_FD; i++) {
        if (!seen[i])
            continue;
        printf(" %s=", names[i]);
        print_mask(got[i]);
        if (seen[i] > 1)
            printf("(x%d)", seen[i]);
    }
    printf("\n");
}

static void ask_all(const char *step)
{
    ask_poll(step);
    ask_select(step);
    print_epoll("epoll-lt", step, ep_lt, 0);
    print_epoll("epoll-et", step, ep_et, 0);
}

/* Waits (bounded) until fd has all of `want`, with poll on it alone. */
static void wait_for(int i, short want, const char *what)
{
    struct pollfd p = { .fd = fds[i], .events = want };
    for (int tries = 0; tries < 50; tries++) {
        int n = poll(&p, 1, WAIT_MS / 50);
        if (n == 1 && (p.revents & want) == want)
            return;
    }
    printf("TIMEOUT waiting for %s on %s\n", what, names[i]);
}

static void drain(int i)
{
    char buf[4096];
    ssize_t n;
    while ((n = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        ;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mixready PEER_IP PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    peer = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1)
        die("address");
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    fds[F_PIPE_R] = p[0];
    fds[F_PIPE_W] = p[1];
    fds[F_EVENT] = eventfd(0, EFD_NONBLOCK);
    fds[F_TCP] = socket(AF_INET, SOCK_STREAM, 0);
    fds[F_UDP] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fds[F_EVENT] < 0 || fds[F_TCP] < 0 || fds[F_UDP] < 0)
        die("descriptors");
    if (connect(fds[F_TCP], (struct sockaddr *)&peer, sizeof(peer)) < 0)
        die("connect tcp");
    if (connect(fds[F_UDP], (struct sockaddr *)&peer, sizeof(peer)) < 0)
        die("connect udp");
    ep_setup();

    ask_all("start");
    if (write(fds[F_PIPE_W], "x", 1) != 1)
        die("pipe write");
    ask_all("pipe-data");
    uint64_t one = 1;
    if (write(fds[F_EVENT], &one, sizeof(one)) != sizeof(one))
        die("eventfd write");
    ask_all("event");
    if (send(fds[F_TCP], "ping", 4, 0) != 4)
        die("tcp send");
    wait_for(F_TCP, POLLIN, "the echo");
    ask_all("tcp-echo");
    /* Edge-triggered: more data on the TCP socket is a new edge. */
    if (send(fds[F_TCP], "more", 4, 0) != 4)
        die("tcp send");
    wait_for(F_TCP, POLLIN, "the echo");
    {
        /* wait until both echoes are in (8 bytes), so the step is the same on both stacks */
        for (int tries = 0; tries < 50; tries++) {
            char b[16];
            if (recv(fds[F_TCP], b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) >= 8)
                break;
            poll(NULL, 0, WAIT_MS / 50);
        }
    }
    print_epoll("epoll-et", "tcp-more", ep_et, 0);
    char buf[64];
    if (read(fds[F_PIPE_R], buf, sizeof(buf)) != 1)
        die("pipe read");
    if (read(fds[F_EVENT], &one, sizeof(one)) != sizeof(one))
        die("eventfd read");
    drain(F_TCP);
    ask_all("drained");
    if (send(fds[F_UDP], "dgram", 5, 0) != 5)
        die("udp send");
    wait_for(F_UDP, POLLIN, "the datagram");
    ask_all("udp-echo");
    if (recv(fds[F_UDP], buf, sizeof(buf), 0) != 5)
        die("udp recv");
    ask_all("udp-read");
    if (shutdown(fds[F_TCP], SHUT_WR) < 0)
        die("shutdown");
    wait_for(F_TCP, POLLIN | POLLRDHUP, "the peer's FIN");
    ask_all("both-shut");
    if (recv(fds[F_TCP], buf, sizeof(buf), 0) != 0)
        die("eof");
    ask_all("eof-read");
    close(fds[F_TCP]);
    close(fds[F_UDP]);
    printf("done\n");
    return 0;
}
