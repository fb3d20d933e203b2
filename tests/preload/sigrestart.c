/*
 * sigrestart: how a blocking socket call meets a signal handler, as a transcript on stdout.
 * tests/interop/test_preload.py runs it on the kernel's sockets and under `ustack run` and
 * requires identical transcripts (signal(7): recv is restarted after an SA_RESTART handler,
 * fails with EINTR after one without, or when the socket has SO_RCVTIMEO; poll always fails with
 * EINTR; signal() installs with SA_RESTART; sigaction reports the handler the program set).
 *
 * usage: sigrestart PEER_IP PORT   (PORT: a TCP service that echoes each chunk 300 ms later)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t ran;

static void on_alarm(int sig)
{
    (void)sig;
    ran++;
}

static void arm_100ms(void)
{
    struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = 100000 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

static void install(int flags)
{
    struct sigaction a, old;
    memset(&a, 0, sizeof(a));
    a.sa_handler = on_alarm;
    a.sa_flags = flags;
    sigemptyset(&a.sa_mask);
    if (sigaction(SIGALRM, &a, NULL) < 0) {
        perror("sigaction");
        exit(1);
    }
    sigaction(SIGALRM, NULL, &old);
    printf("  sigaction reports our handler: %s, SA_RESTART %s\n",
           old.sa_handler == on_alarm ? "yes" : "no", (old.sa_flags & SA_RESTART) ? "on" : "off");
}

static void show(const char *what, long rc, int err, const char *buf)
{
    if (rc < 0)
        printf("  %s: -1 %s, handler ran %d\n", what, err == EINTR ? "EINTR" : strerror(err),
               (int)ran);
    else
        printf("  %s: %ld \"%.*s\", handler ran %d\n", what, rc, (int)rc, buf, (int)ran);
}

/* Sends tag, arms the timer, and receives (the echo comes 300 ms later). */
static void recv_case(int s, const char *tag)
{
    char buf[64];
    ran = 0;
    if (send(s, tag, strlen(tag), 0) != (ssize_t)strlen(tag)) {
        perror("send");
        exit(1);
    }
    arm_100ms();
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    show("recv", n, errno, buf);
    if (n < 0) {
        n = recv(s, buf, sizeof(buf), 0);
        show("recv again", n, errno, buf);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sigrestart PEER_IP PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1)
        return 2;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&peer, sizeof(peer)) < 0) {
        perror("connect");
        return 1;
    }
    printf("sigaction with SA_RESTART:\n");
    install(SA_RESTART);
    recv_case(s, "restart");
    printf("sigaction without SA_RESTART:\n");
    install(0);
    recv_case(s, "eintr");
    printf("SA_RESTART but SO_RCVTIMEO set:\n");
    install(SA_RESTART);
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    recv_case(s, "timeo");
    tv.tv_sec = 0;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    printf("signal() (BSD semantics):\n");
    signal(SIGALRM, on_alarm);
    recv_case(s, "bsd");
    printf("poll with SA_RESTART:\n");
    install(SA_RESTART);
    ran = 0;
    if (send(s, "poll", 4, 0) != 4)
        return 1;
    arm_100ms();
    struct pollfd p = { .fd = s, .events = POLLIN };
    int rc = poll(&p, 1, 2000);
    printf("  poll: %d %s, handler ran %d\n", rc, rc < 0 && errno == EINTR ? "EINTR" : "",
           (int)ran);
    rc = poll(&p, 1, 2000);
    printf("  poll again: %d revents %s\n", rc, (p.revents & POLLIN) ? "IN" : "-");
    char buf[16];
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    show("recv", n, errno, buf);
    close(s);
    printf("done\n");
    return 0;
}
