/*
 * ustack echo: a stack that answers ping, echoes UDP datagrams, and serves TCP on the same port
 * (echo, or --discard, or --source N: see tcp_serve.c), until interrupted; then it prints the
 * stack's counters. The demo, the interop tests and anyone trying ustack by hand use it.
 *
 *   ustack echo --link tap:ust0 --addr 198.18.0.2/24 [--gw G] [--port 7]
 *               [--discard | --source BYTES] [--no-hash] [--user-timeout MS]
 *               [any config option]
 *
 * It prints one line when it is ready ("ustack echo: ready ...") so scripts can wait for it, and
 * when stopped, "tcp.connections_live N" (connections not closed yet) before its counters.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ustack.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int echo_usage(FILE *f, int status)
{
    fprintf(f,
            "usage: ustack echo --link LINK --addr ADDR/PREFIX [--gw GW] [--port N]\n"
            "                   [--discard | --source BYTES] [--no-hash] [--user-timeout MS]\n"
            "                   [OPTIONS]\n\n"
            "Answers ping, echoes UDP datagrams sent to port N (default 7), and serves TCP on\n"
            "port N until SIGINT or SIGTERM, then prints the stack's counters. TCP echoes by\n"
            "default; --discard reads, counts and hashes what each connection sends; --source\n"
            "sends BYTES of the test stream to each connection. Each connection's byte count\n"
            "and SHA-256 is printed when it ends (--no-hash: the count only, for throughput\n"
            "measurements). --user-timeout sets TCP_USER_TIMEOUT on every connection: data\n"
            "unacknowledged, or waiting for a closed window, that long ends it (ETIMEDOUT).\n"
            "OPTIONS are any runtime option as\n"
            "--name=value (ustack help config); UST_* environment variables apply first.\n");
    return status;
}

static int open_udp(uint16_t port)
{
    int fd = ust_socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (ust_bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        return -1;
    return fd;
}

/* Echoes one datagram: the socket was readable. Another waiting makes the next ust_poll
 * return at once; reading until EAGAIN instead would cost a look at the link (on TAP a failing
 * readv(2)) per wake-up that poll's sleep makes anyway. */
static void udp_echo_one(int ufd)
{
    static char buf[65536];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = ust_recvfrom(ufd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n >= 0)
        ust_sendto(ufd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
}

static void serve(int ufd, struct tcp_server *tcp)
{
    static struct pollfd fds[4098];
    while (!stop_requested) {
        fds[0] = (struct pollfd){ .fd = ufd, .events = POLLIN };
        unsigned n = 1 + tcp_server_pollfds(tcp, fds + 1, 4097);
        /* At most a second at a time: a stop signal that comes after the check above but
         * before ust_poll sleeps does not interrupt the sleep (ust_poll has no signal mask to
         * take, as ppoll does), and would otherwise go unnoticed until traffic came. A descriptor
         * for the signal in the set would cost a system call in every round. */
        if (ust_poll(fds, n, 1000) < 0) {
            if (errno == EINTR)
                continue;
            perror("ustack echo: poll");
            return;
        }
        if (fds[0].revents)
            udp_echo_one(ufd);
        tcp_server_handle(tcp, fds + 1, n - 1);
    }
}

struct echo_opts {
    unsigned long port;
    unsigned long long source;
    enum tcp_mode mode;
    bool hash;
    unsigned long user_timeout;
};

/* Takes echo's own flags out of argv (so that tool_stack sees only config options). Returns 0,
 * or 2 after a message for a bad value. */
static int parse_echo_flags(int *argc, char **argv, struct echo_opts *o)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < *argc) {
            if (tool_parse_uint(argv[++i], 65535, &o->port) != 0 || o->port == 0) {
                fprintf(stderr, "ustack echo: --port %s: not a port\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--user-timeout") == 0 && i + 1 < *argc) {
            if (tool_parse_uint(argv[++i], 0x7fffffff, &o->user_timeout) != 0) {
                fprintf(stderr, "ustack echo: --user-timeout %s: not milliseconds\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--no-hash") == 0) {
            o->hash = false;
        } else if (strcmp(argv[i], "--discard") == 0) {
            o->mode = TCP_MODE_DISCARD;
        } else if (strcmp(argv[i], "--source") == 0 && i + 1 < *argc) {
            char *end;
            o->source = strtoull(argv[++i], &end, 10);
            if (*end) {
                fprintf(stderr, "ustack echo: --source %s: not a byte count\n", argv[i]);
                return 2;
            }
            o->mode = TCP_MODE_SOURCE;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    return 0;
}

int cmd_echo(int argc, char **argv)
{
    struct ust_config cfg;
    int status;
    struct echo_opts o = { .port = 7, .mode = TCP_MODE_ECHO, .hash = true };
    struct ust_stack *s = NULL;
    if (parse_echo_flags(&argc, argv, &o) != 0)
        return 2;
    unsigned long port = o.port;
    enum tcp_mode mode = o.mode;
    s = tool_stack("echo", &cfg, &argc, argv, &status);
    if (!s)
        return status < 0 ? echo_usage(stdout, 0) : status;
    if (argc > 1) {
        fprintf(stderr, "ustack echo: unknown argument \"%s\"\n", argv[1]);
        ust_stack_destroy(s);
        return echo_usage(stderr, 2);
    }
    int ufd = open_udp((uint16_t)port);
    if (ufd < 0) {
        fprintf(stderr, "ustack echo: udp port %lu: %s\n", port, strerror(errno));
        ust_stack_destroy(s);
        return 1;
    }
    struct tcp_server *tcp = tcp_server_open((uint16_t)port, mode, o.source);
    if (!tcp) {
        fprintf(stderr, "ustack echo: tcp port %lu: %s\n", port, strerror(errno));
        ust_close(ufd);
        ust_stack_destroy(s);
        return 1;
    }
    tcp_server_set_hash(tcp, o.hash);
    if (o.user_timeout && tcp_server_set_user_timeout(tcp, (unsigned)o.user_timeout) < 0) {
        fprintf(stderr, "ustack echo: TCP_USER_TIMEOUT: %s\n", strerror(errno));
        tcp_server_close(tcp);
        ust_close(ufd);
        ust_stack_destroy(s);
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART: calls return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    static const char *const mode_names[] = { "echo", "discard", "source" };
    printf("ustack echo: ready on %s as %s, udp port %lu, tcp port %lu (%s)\n", cfg.link,
           cfg.addr, port, port, mode_names[mode]);
    fflush(stdout);
    serve(ufd, tcp);
    /* What the clients left behind, before the connections still open are closed here. */
    tool_print_tcp_live(s, stdout, 1000);
    tcp_server_close(tcp);
    ust_close(ufd);
    printf("ustack echo: counters\n");
    ust_stack_print_counters(s, stdout, 0);
    ust_stack_destroy(s);
    return 0;
}
