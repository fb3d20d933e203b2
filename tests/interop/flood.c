/*
 * ust_flood: a bounded packet flooder for the flood tests (tests/interop/test_floods.py).
 *
 * Python (scapy or raw sockets) sends a few tens of thousands of frames a second at best; a SYN
 * flood test wants 50,000 a second and more. This tool builds Ethernet frames itself and hands
 * them to one interface through an AF_PACKET socket, 64 at a time with sendmmsg(2), bypassing
 * the qdisc, paced to a rate, and always bounded: it stops after --count frames, after
 * --seconds, or at SIGINT/SIGTERM, whichever comes first, and prints what it sent.
 *
 *   ust_flood --ifname IF --src-mac MAC --dst-mac MAC --dst IP --src IP --src-count N
 *             --mode syn|frag [--dport P] [--rate PPS] [--count N] [--seconds S]
 *             [--frag-len BYTES] [--frags-per-id K] [--seed S]
 *
 * Sources are random among --src-count addresses from --src on (the test picks addresses its
 * namespace routes nowhere), ports and sequence numbers random.
 *   syn   TCP SYNs to --dst:--dport with the options a Linux client sends (MSS 1460,
 *         SACK-permitted, timestamps, window scale 7), so that cookies encode them;
 *   frag  UDP datagrams to --dst:--dport cut into fragments that never complete: per IP ID
 *         (in sequence, so no two datagrams of a run share one),
 *         --frags-per-id fragments of --frag-len bytes with "more fragments" set, at offsets 0,
 *         frag-len, ... (the last fragment never comes).
 *
 * Output: "flood: started" once the socket is ready, then at the end
 * "flood: sent N frames in T s, R frames/s, D dropped by the interface, E send errors"
 * (stdout, flushed). A frame the interface refused with ENOBUFS (its queue was full: the
 * receiver is behind, and the kernel dropped the frame) counts as sent and as dropped: an
 * attacker's frame that a receiver's full ring drops was sent all the same.
 * Safety: it only ever sends on the one interface named, which the test creates inside its own
 * network namespace; every loop is bounded by count and time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME_MAX 1514

struct opts {
    const char *ifname, *mode;
    uint8_t src_mac[6], dst_mac[6];
    uint32_t dst, src, src_count;   /* host order */
    uint16_t dport;
    uint64_t rate, count;
    double seconds;
    uint32_t frag_len, frags_per_id;
    uint64_t seed;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: fast, and good enough to spread addresses, ports and IDs. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* Ethernet and IPv4 headers; returns the IP header. */
static uint8_t *eth_ip(const struct opts *o, uint8_t *f, uint32_t src, uint8_t proto,
                       uint16_t ip_len, uint16_t id, uint16_t frag)
{
    memcpy(f, o->dst_mac, 6);
    memcpy(f + 6, o->src_mac, 6);
    put16(f + 12, ETHERTYPE_IP);
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, ip_len);
    put16(ip + 4, id);
    put16(ip + 6, frag);
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, src);
    put32(ip + 16, o->dst);
    put16(ip + 10, fold(sum16(ip, 20, 0)));
    return ip;
}

static uint32_t random_src(const struct opts *o)
{
    return o->src + (uint32_t)(rnd() % o->src_count);
}

/* A SYN as Linux sends it: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes). */
static size_t build_syn(const struct opts *o, uint8_t *f)
{
    uint32_t src = random_src(o);
    uint64_t r = rnd();
    uint8_t *ip = eth_ip(o, f, src, 6, 20 + 40, (uint16_t)r, 0x4000 /* DF */);
    uint8_t *th = ip + 20;
    memset(th, 0, 40);
    put16(th, (uint16_t)(1024 + (r >> 16) % 64512));
    put16(th + 2, o->dport);
    put32(th + 4, (uint32_t)(r >> 32));
    th[12] = 10 << 4;
    th[13] = 0x02;   /* SYN */
    put16(th + 14, 64240);
    static const uint8_t opt[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0,
                                     1, 3, 3, 7 };
    memcpy(th + 20, opt, sizeof(opt));
    put32(th + 28, (uint32_t)rnd());   /* TSval */
    uint32_t sum = sum16(ip + 12, 8, 6 + 40);
    put16(th + 16, fold(sum16(th, 40, sum)));
    return 14 + 20 + 40;
}

/* The next fragment of a datagram that never completes: fragment k of its ID. */
static size_t build_frag(const struct opts *o, uint8_t *f, uint64_t n)
{
    static uint32_t src;
    static uint16_t id;
    uint32_t k = (uint32_t)(n % o->frags_per_id);
    if (k == 0) {
        /* IDs in sequence from a random start: no datagram repeats another's (source, ID)
         * within 65,536 of them, so none of the flood's fragments is an exact duplicate. */
        src = random_src(o);
        id = id ? (uint16_t)(id + 1) : (uint16_t)(rnd() | 1);
    }
    uint32_t off = k * o->frag_len;
    uint8_t *ip = eth_ip(o, f, src, 17, (uint16_t)(20 + o->frag_len), id,
                         (uint16_t)(0x2000 /* MF */ | (off / 8)));
    uint8_t *payload = ip + 20;
    memset(payload, 0x5a, o->frag_len);
    if (k == 0) {   /* a UDP header claiming the whole of a datagram that will never end */
        put16(payload, (uint16_t)(1024 + rnd() % 60000));
        put16(payload + 2, o->dport);
        put16(payload + 4, 8000);
        put16(payload + 6, 0);
    }
    return 14 + 20 + o->frag_len;
}

static int open_socket(const struct opts *o)
{
    int fd = socket(AF_PACKET, SOCK_RAW, 0);   /* protocol 0: send only, receive nothing */
    if (fd < 0) {
        perror("flood: socket(AF_PACKET)");
        return -1;
    }
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(o->ifname) };
    if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fprintf(stderr, "flood: interface %s: %s\n", o->ifname, strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));   /* best effort */
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return fd;
}

/* Sends until count, time or a signal; returns the frames the kernel took. */
static uint64_t run(const struct opts *o, int fd, uint64_t *errors, uint64_t *dropped,
                    double *secs)
{
    static uint8_t frames[BATCH][FRAME_MAX];
    struct iovec iov[BATCH];
    struct mmsghdr msg[BATCH];
    bool syn = strcmp(o->mode, "syn") == 0;
    uint64_t sent = 0, built = 0;
    double t0 = now_s(), end = t0 + o->seconds;
    while (!stop && sent < o->count) {
        double t = now_s();
        if (t >= end)
            break;
        if (o->rate && (double)sent > (t - t0) * (double)o->rate) {
            struct timespec ts = { 0, 50000 };   /* ahead of the rate: wait 50 us */
            nanosleep(&ts, NULL);
            continue;
        }
        unsigned n = o->count - sent < BATCH ? (unsigned)(o->count - sent) : BATCH;
        for (unsigned i = 0; i < n; i++) {
            size_t len = syn ? build_syn(o, frames[i]) : build_frag(o, frames[i], built + i);
            iov[i] = (struct iovec){ frames[i], len };
            msg[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
        }
        int r = sendmmsg(fd, msg, n, 0);
        if (r < 0) {
            if (errno != ENOBUFS) {
                (*errors)++;
                if (errno != EAGAIN && errno != EINTR) {
                    perror("flood: sendmmsg");
                    break;
                }
                continue;
            }
            /* ENOBUFS: the interface dropped the frame, its queue full (the receiver is
             * behind), as a NIC's ring drops what the host does not take in time. It was on
             * the wire: it counts as sent (and in *dropped), and the rest of the batch goes
             * on. */
            (*dropped)++;
            r = 1;
        }
        sent += (uint64_t)r;
        built += (uint64_t)r;
    }
    *secs = now_s() - t0;
    return sent;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

static int parse_ip(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: ust_flood --ifname IF --src-mac MAC --dst-mac MAC --dst IP --src IP "
                    "--src-count N --mode syn|frag [--dport P] [--rate PPS] [--count N] "
                    "[--seconds S] [--frag-len B] [--frags-per-id K] [--seed S]\n");
    return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .dport = 7, .count = 100000, .seconds = 10, .frag_len = 1000,
                        .frags_per_id = 1, .seed = 1, .src_count = 1 };
    int have = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (!strcmp(k, "--ifname"))
            o->ifname = v, have |= 1;
        else if (!strcmp(k, "--mode"))
            o->mode = v, have |= 2;
        else if (!strcmp(k, "--src-mac"))
            bad = parse_mac(v, o->src_mac), have |= 4;
        else if (!strcmp(k, "--dst-mac"))
            bad = parse_mac(v, o->dst_mac), have |= 8;
        else if (!strcmp(k, "--dst"))
            bad = parse_ip(v, &o->dst), have |= 16;
        else if (!strcmp(k, "--src"))
            bad = parse_ip(v, &o->src), have |= 32;
        else if (!strcmp(k, "--src-count"))
            o->src_count = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--dport"))
            o->dport = (uint16_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--rate"))
            o->rate = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--count"))
            o->count = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--seconds"))
            o->seconds = strtod(v, NULL);
        else if (!strcmp(k, "--frag-len"))
            o->frag_len = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--frags-per-id"))
            o->frags_per_id = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(k, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "ust_flood: bad option %s %s\n", k, v);
            return -1;
        }
    }
    bool modes = o->mode && (!strcmp(o->mode, "syn") || !strcmp(o->mode, "frag"));
    /* Fragments: 8-byte multiples, within one frame, the datagram within 64 KiB. */
    bool frag_ok = o->frag_len >= 8 && o->frag_len % 8 == 0 && o->frag_len <= FRAME_MAX - 34 &&
                   o->frags_per_id >= 1 && (uint64_t)o->frags_per_id * o->frag_len < 65000;
    if (have != 63 || !modes || !frag_ok || !o->src_count || o->seconds <= 0 || o->seconds > 60)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0)
        return usage();
    rng_state = o.seed * 0x9e3779b97f4a7c15ull + 1;
    int fd = open_socket(&o);
    if (fd < 0)
        return 1;
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("flood: started\n");
    fflush(stdout);
    uint64_t errors = 0, dropped = 0;
    double secs = 0;
    uint64_t sent = run(&o, fd, &errors, &dropped, &secs);
    printf("flood: sent %llu frames in %.3f s, %.0f frames/s, %llu dropped by the interface, "
           "%llu send errors\n", (unsigned long long)sent, secs,
           secs > 0 ? (double)sent / secs : 0.0, (unsigned long long)dropped,
           (unsigned long long)errors);
    fflush(stdout);
    close(fd);
    return 0;
}
