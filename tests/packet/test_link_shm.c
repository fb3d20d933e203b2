/*
 * The shared-memory wire, both sides in this process over a real file in /dev/shm: frames in
 * order both ways, received in place (in the receiver's slab, not a copy in a pool of the
 * sender's), back-pressure when the receiver holds every buffer,
 * refill as the stack frees them, wakeups only for a side that armed before sleeping, the
 * peer's departure seen as -ENETDOWN, files that are refused (foreign, corrupt, wrong mode,
 * another uid's options), and two whole stacks exchanging TCP over one file.
 *
 * Files are named /dev/shm/ust-test-PID-N and removed by every test, passing or not.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "link/open.h"
#include "link/shm.h"
#include "linktest.h"
#include "net/stack.h"
#include "tcp/tcp.h"
#include "ustack/ustack.h"

struct wire {
    char path[128];
    struct pkt_pool *pool;       /* what the tests transmit from */
    struct link *a, *b;
};

static unsigned file_seq;

static void wire_names_remove(const char *path)
{
    char door[160];
    unlink(path);
    for (int d = 0; d < 2; d++) {
        snprintf(door, sizeof(door), "%s.door%d", path, d);
        unlink(door);
    }
}

static void new_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "/dev/shm/ust-test-%d-%u", (int)getpid(), file_seq++);
    wire_names_remove(buf);
}

static struct link *open_side(const char *path, unsigned side, uint32_t mtu, uint32_t slots)
{
    struct shm_config cfg = { .path = path, .side = side, .mtu = mtu, .slots = slots };
    struct link *l = NULL;
    int err = link_shm_open(&cfg, &l);
    if (err)
        fail_msg("link_shm_open %s side %u: %s", path, side, strerror(-err));
    return l;
}

static int wire_setup(void **state)
{
    struct wire *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    new_path(w->path, sizeof(w->path));
    w->pool = test_pool_new(256);
    w->a = open_side(w->path, 0, 1500, 16);
    w->b = open_side(w->path, 1, 0, 0);
    *state = w;
    return 0;
}

static int wire_teardown(void **state)
{
    struct wire *w = *state;
    link_destroy(w->a);
    link_destroy(w->b);
    wire_names_remove(w->path);
    test_pool_free(w->pool);
    free(w);
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void test_shm_frames_cross_in_order_both_ways_in_place(void **state)
{
    struct wire *w = *state;
    /* Both attached: the names are gone, the wire lives on. */
    assert_false(exists(w->path));
    assert_int_equal(w->a->caps.mtu, 1500);
    assert_int_equal(w->b->caps.mtu, 1500);             /* taken from the file */
    assert_true(w->a->caps.offloads & LINK_TX_SYNC);
    assert_true(w->a->caps.offloads & LINK_OFF_RX_CSUM);
    assert_false(w->a->caps.offloads & LINK_OFF_TX_CSUM);   /* senders finish checksums */
    /* 104 frames through a 16-slot wire: the indices and buffers go round several times. The
     * buffers b frees in one round are posted back by its first receive call of the next. */
    for (uint32_t i = 0; i < 104; i += 8) {
        lt_tx_seqs(w->a, w->pool, i, 8, 60 + i * 14, 5);
        struct pkt *got[16];
        assert_int_equal(lt_rx_all(w->b, got, 16), 8);
        for (uint32_t k = 0; k < 8; k++) {
            assert_int_equal(lt_frame_seq(got[k]), i + k);
            assert_int_equal(got[k]->len, 60 + i * 14);
            uint8_t want[1600];
            lt_seq_bytes(want, i + k, got[k]->len);
            assert_memory_equal(got[k]->data, want, got[k]->len);
            /* In place: the frame is in the receiver's slab, not a copy in the sender's pool. */
            assert_ptr_not_equal(got[k]->pool, w->pool);
            assert_int_equal(pkt_headroom(got[k]), SHM_HEADROOM);
            assert_int_equal(got[k]->flags, PKT_F_CSUM_VALID);   /* trusted: see shm.c */
            pkt_free(got[k]);
        }
    }
    lt_tx_seqs(w->b, w->pool, 1000, 3, 1514, 3);
    uint32_t seqs[4];
    assert_int_equal(lt_rx_seqs(w->a, seqs, 4), 3);
    assert_int_equal(seqs[0], 1000);
    assert_int_equal(seqs[2], 1002);
    assert_int_equal(w->a->ctrs.tx_frames, 104);
    assert_int_equal(w->b->ctrs.rx_frames, 104);
}

static void test_shm_receiver_holding_every_buffer_is_back_pressure(void **state)
{
    struct wire *w = *state;
    lt_tx_seqs(w->a, w->pool, 0, 16, 100, 16);
    struct pkt *held[16];
    assert_int_equal(lt_rx_all(w->b, held, 16), 16);
    /* Every buffer of b's slab is in b's hands: a must wait, and keeps its frames. */
    struct pkt *p = lt_seq_frame(w->pool, 16, 100);
    assert_int_equal(link_tx_burst(w->a, &p, 1), 0);
    /* b frees two; they go back to a at b's next receive call. */
    pkt_free(held[0]);
    pkt_free(held[1]);
    assert_int_equal(link_tx_burst(w->a, &p, 1), 0);   /* not posted yet */
    struct pkt *none[1];
    assert_int_equal(link_rx_burst(w->b, none, 1), 0);  /* posts them */
    assert_int_equal(link_tx_burst(w->a, &p, 1), 1);
    struct pkt *q = lt_seq_frame(w->pool, 17, 100);
    assert_int_equal(link_tx_burst(w->a, &q, 1), 1);
    struct pkt *r = lt_seq_frame(w->pool, 18, 100);
    assert_int_equal(link_tx_burst(w->a, &r, 1), 0);
    pkt_free(r);
    uint32_t seqs[4];
    assert_int_equal(lt_rx_seqs(w->b, seqs, 4), 2);
    assert_int_equal(seqs[0], 16);
    assert_int_equal(seqs[1], 17);
    for (int i = 2; i < 16; i++)
        pkt_free(held[i]);
    /* Too long for the MTU: consumed and counted, never sent. */
    struct pkt *big = pkt_alloc(w->pool);
    pkt_put(big, 1515);
    assert_int_equal(link_tx_burst(w->a, &big, 1), 1);
    assert_int_equal(link_shm_counters(w->a)->tx_too_long, 1);
}

/* A receiver posting back each buffer it frees never reads the sender's free-ring index: the
 * frames it took prove the sender has consumed those entries (with every buffer posted, the ring
 * always looks full, and each refill used to reread that index, a cache line the sender writes
 * on every burst). Its only shared-index reads are one of the used ring's producer index per
 * receive that found its private copy empty. */
static void test_shm_refill_does_not_reread_the_free_ring(void **state)
{
    struct wire *w = *state;
    struct pkt *none[1];
    assert_int_equal(link_rx_burst(w->b, none, 1), 0);
    uint64_t before = link_shm_counters(w->b)->ring_rereads;
    for (uint32_t i = 0; i < 100; i++) {
        lt_tx_seqs(w->a, w->pool, i, 1, 100, 1);
        struct pkt *got[1];
        assert_int_equal(link_rx_burst(w->b, got, 1), 1);   /* also posts the last one back */
        assert_int_equal(lt_frame_seq(got[0]), i);
        pkt_free(got[0]);
    }
    assert_int_equal(link_shm_counters(w->b)->ring_rereads - before, 100);
    /* 100 frames through 16 buffers: the sender found every one posted back in time. */
    assert_int_equal(w->a->ctrs.tx_frames, 100);
}

static bool readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1;
}

static void test_shm_wakes_only_a_side_that_armed(void **state)
{
    struct wire *w = *state;
    /* b spins (never asks for its descriptor): a's sends make no system call. */
    lt_tx_seqs(w->a, w->pool, 0, 3, 80, 1);
    uint32_t seqs[4];
    assert_int_equal(lt_rx_seqs(w->b, seqs, 4), 3);
    assert_int_equal(link_shm_counters(w->a)->tx_wakeups, 0);
    /* b is about to sleep: its descriptor is the quiet doorbell. */
    int fd = link_wait_fd(w->b);
    assert_true(fd >= 0);
    assert_false(readable(fd));
    lt_tx_seqs(w->a, w->pool, 3, 1, 80, 1);
    assert_true(readable(fd));
    assert_int_equal(link_shm_counters(w->a)->tx_wakeups, 1);
    lt_tx_seqs(w->a, w->pool, 4, 1, 80, 1);                /* rung once is enough */
    assert_int_equal(link_shm_counters(w->a)->tx_wakeups, 1);
    assert_int_equal(lt_rx_seqs(w->b, seqs, 4), 2);        /* disarms and drains */
    assert_false(readable(fd));
    /* Frames already waiting when b arms: it gets a descriptor that is readable at once. */
    lt_tx_seqs(w->a, w->pool, 5, 1, 80, 1);
    int ready = link_wait_fd(w->b);
    assert_true(readable(ready));
    assert_int_equal(lt_rx_seqs(w->b, seqs, 4), 1);
    assert_int_equal(seqs[0], 5);
    /* Armed, then a receive call that finds nothing (another thread of b's stack, while this
     * one sleeps): still armed, so the next frame still rings. */
    fd = link_wait_fd(w->b);
    assert_false(readable(fd));
    struct pkt *none[1];
    assert_int_equal(link_rx_burst(w->b, none, 1), 0);
    lt_tx_seqs(w->a, w->pool, 6, 1, 80, 1);
    assert_true(readable(fd));
    assert_int_equal(link_shm_counters(w->a)->tx_wakeups, 2);
    assert_int_equal(lt_rx_seqs(w->b, seqs, 4), 1);
    assert_false(readable(fd));
}

static void test_shm_peer_destroyed_means_link_down(void **state)
{
    struct wire *w = *state;
    int fd = link_wait_fd(w->a);
    assert_false(readable(fd));
    link_destroy(w->b);
    w->b = NULL;
    assert_true(readable(fd));                              /* the sleeper is woken */
    struct pkt *got[2];
    assert_int_equal(link_rx_burst(w->a, got, 2), -ENETDOWN);
    struct pkt *p = lt_seq_frame(w->pool, 0, 80);
    assert_int_equal(link_tx_burst(w->a, &p, 1), -ENETDOWN);
    pkt_free(p);
}

static void test_shm_killed_peer_is_detected(void **state)
{
    (void)state;
    char path[128];
    new_path(path, sizeof(path));
    struct link *a = open_side(path, 0, 1500, 16);
    int sync[2];
    assert_int_equal(pipe(sync), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct link *b = NULL;
        struct shm_config cfg = { .path = path, .side = 1 };
        char ok = link_shm_open(&cfg, &b) == 0 ? 'y' : 'n';
        if (write(sync[1], &ok, 1) != 1)
            _exit(2);
        pause();   /* until killed */
        _exit(0);
    }
    close(sync[1]);
    char ok = 0;
    assert_int_equal(read(sync[0], &ok, 1), 1);
    close(sync[0]);
    assert_int_equal(ok, 'y');
    int fd = link_wait_fd(a);
    assert_false(readable(fd));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    /* The kernel closed the child's doorbell: the hang-up wakes us, and the read sees it. */
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&pf, 1, 5000), 1);
    struct pkt *got[2];
    assert_int_equal(link_rx_burst(a, got, 2), -ENETDOWN);
    link_destroy(a);
    wire_names_remove(path);
}

static void test_shm_bad_descriptors_from_the_peer_are_counted_and_dropped(void **state)
{
    (void)state;
    char path[128];
    new_path(path, sizeof(path));
    struct link *a = open_side(path, 0, 1500, 16);
    /* Map the wire ourselves while it still has a name, to play a misbehaving side 0. */
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct shm_hdr h;
    assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    uint8_t *m = mmap(NULL, h.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    close(fd);
    struct link *b = open_side(path, 1, 0, 0);
    struct shm_ring_ctl *used = (struct shm_ring_ctl *)(void *)(m + h.dir[0].used_off);
    struct shm_desc *desc = (struct shm_desc *)(void *)(used + 1);
    uint32_t prod = atomic_load(&used->prod);
    desc[prod++ & 15] = (struct shm_desc){ .buf = 9999, .len = 60 };    /* no such buffer */
    desc[prod++ & 15] = (struct shm_desc){ .buf = 3, .len = 70000 };    /* longer than a buffer */
    desc[prod++ & 15] = (struct shm_desc){ .buf = 4, .len = 10 };       /* shorter than Ethernet */
    desc[prod++ & 15] = (struct shm_desc){ .buf = 5, .len = 60 };       /* fine */
    desc[prod++ & 15] = (struct shm_desc){ .buf = 5, .len = 60 };       /* not posted any more */
    atomic_store(&used->prod, prod);
    struct pkt *got[8];
    assert_int_equal(link_rx_burst(b, got, 8), 1);
    assert_int_equal(got[0]->len, 60);
    pkt_free(got[0]);
    assert_int_equal(link_shm_counters(b)->rx_bad_desc, 4);
    /* An index more than a ring ahead: the peer is broken, the link goes down. */
    atomic_store(&used->prod, prod + 100);
    assert_int_equal(link_rx_burst(b, got, 8), -ENETDOWN);
    assert_int_equal(link_rx_burst(b, got, 8), -ENETDOWN);
    link_destroy(b);
    link_destroy(a);
    munmap(m, h.file_size);
    wire_names_remove(path);
}

/* ---- Files that are refused ---- */

static void write_file(const char *path, const void *bytes, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

static int try_side(const char *path, unsigned side, uint32_t mtu)
{
    struct shm_config cfg = { .path = path, .side = side, .mtu = mtu };
    struct link *l = NULL;
    int err = link_shm_open(&cfg, &l);
    if (!err)
        link_destroy(l);
    return err;
}

static void test_shm_foreign_and_corrupt_files_are_refused_untouched(void **state)
{
    (void)state;
    char path[128];
    new_path(path, sizeof(path));
    /* Someone else's data. */
    char text[5000];
    memset(text, 'x', sizeof(text));
    write_file(path, text, sizeof(text), 0600);
    assert_int_equal(try_side(path, 0, 0), -EPROTO);
    /* Too short to hold a header. */
    write_file(path, "USTSHMW1", 8, 0600);
    assert_int_equal(try_side(path, 0, 0), -EPROTO);
    /* A real header with one field changed at a time, in a file of the right size. */
    struct shm_hdr h;
    assert_int_equal(shm_layout(1500, 16, &h), 0);
    size_t size = h.file_size;
    uint8_t *img = calloc(1, size);
    assert_non_null(img);
    struct { size_t off; uint32_t v; int err; } cases[] = {
        { offsetof(struct shm_hdr, version), 99, -EPROTO },
        { offsetof(struct shm_hdr, slots), 17, -EINVAL },
        { offsetof(struct shm_hdr, buf_size), 512, -EINVAL },
        { offsetof(struct shm_hdr, dir[1].slab_off), 4096, -EINVAL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(img, &h, sizeof(h));
        memcpy(img + cases[i].off, &cases[i].v, sizeof(uint32_t));
        write_file(path, img, size, 0600);
        assert_int_equal(try_side(path, 1, 0), cases[i].err);
        /* Refused, not repaired: the file is as it was. */
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        uint8_t back[sizeof(h)];
        assert_int_equal(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
        close(fd);
        assert_memory_equal(back, img, sizeof(h));
    }
    /* A good header, but readable by others: refused before it is read. */
    memcpy(img, &h, sizeof(h));
    write_file(path, img, size, 0644);
    assert_int_equal(try_side(path, 1, 0), -EINVAL);
    /* A symbolic link is not followed. */
    unlink(path);
    assert_int_equal(symlink("/dev/null", path), 0);
    assert_true(try_side(path, 0, 0) < 0);
    free(img);
    wire_names_remove(path);
}

static void test_shm_stale_wire_is_replaced_and_sides_are_exclusive(void **state)
{
    (void)state;
    char path[128];
    new_path(path, sizeof(path));
    /* A valid header nobody live is attached to (its creator is gone): a fresh wire. */
    struct shm_hdr h;
    assert_int_equal(shm_layout(1500, 16, &h), 0);
    uint8_t *img = calloc(1, h.file_size);
    assert_non_null(img);
    memcpy(img, &h, sizeof(h));
    write_file(path, img, h.file_size, 0600);
    free(img);
    struct link *a = open_side(path, 0, 9000, 32);         /* not the stale one's options */
    assert_int_equal(a->caps.mtu, 9000);
    /* Side 0 is taken by a live process (us). */
    assert_int_equal(try_side(path, 0, 0), -EBUSY);
    /* Joining with options the wire does not have. */
    assert_int_equal(try_side(path, 1, 1500), -EINVAL);
    struct link *b = open_side(path, 1, 0, 0);
    assert_int_equal(b->caps.mtu, 9000);
    link_destroy(a);
    link_destroy(b);
    wire_names_remove(path);
}

static void test_shm_spec_strings(void **state)
{
    (void)state;
    char path[128], spec[200];
    new_path(path, sizeof(path));
    struct link_env env = { .mtu = 1500 };
    struct link *l = NULL;
    const char *bad[] = { "shm:", "shm:/dev/shm/ust-x", "shm:/dev/shm/ust-x,side=2",
                          "shm:/dev/shm/ust-x,side=0,mtu=abc", "shm:/dev/shm/ust-x,side=0,zap=1",
                          "shm:/dev/shm/ust-x,side=0,mtu=60", "shm:/dev/shm/ust-x,side=0,verify=2" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(link_open(bad[i], &env, &l), -EINVAL);
    snprintf(spec, sizeof(spec), "shm:%s,side=1,mtu=4000,slots=8", path);
    assert_int_equal(link_open(spec, &env, &l), 0);
    assert_int_equal(l->caps.mtu, 4000);
    assert_true(exists(path));                              /* alone: the name stays */
    link_destroy(l);
    assert_false(exists(path));                             /* nobody came: removed */
    /* verify=1: received checksums are checked by the stack, frames come unmarked. */
    char spec1[200];
    snprintf(spec, sizeof(spec), "shm:%s,side=0,verify=1", path);
    snprintf(spec1, sizeof(spec1), "shm:%s,side=1,verify=1", path);
    struct link *l1 = NULL;
    assert_int_equal(link_open(spec, &env, &l), 0);
    assert_int_equal(link_open(spec1, &env, &l1), 0);
    assert_false(l->caps.offloads & LINK_OFF_RX_CSUM);
    struct pkt_pool *pool;
    struct pkt_pool_config pc = { .name = "t", .count = 8, .buf_size = 2048, .headroom = 128 };
    assert_int_equal(pkt_pool_create(&pc, &pool), 0);
    lt_tx_seqs(l, pool, 7, 1, 100, 1);
    struct pkt *got[2];
    assert_int_equal(lt_rx_all(l1, got, 2), 1);
    assert_int_equal(got[0]->flags, 0);
    pkt_free(got[0]);
    link_destroy(l);
    link_destroy(l1);
    assert_int_equal(pkt_pool_destroy(pool), 0);
    wire_names_remove(path);
}

/* ---- Two stacks over one file ---- */

static struct ust_stack *shm_stack(struct clk *clock, const char *spec, const char *addr,
                                   const char *mac)
{
    struct link_env env = { .mtu = 9000 };
    struct link *l = NULL;
    assert_int_equal(link_open(spec, &env, &l), 0);
    struct ust_config cfg;
    ust_config_defaults(&cfg);
    assert_int_equal(ust_config_set(&cfg, "addr", addr), 0);
    assert_int_equal(ust_config_set(&cfg, "mac", mac), 0);
    assert_int_equal(ust_config_set(&cfg, "mtu", "9000"), 0);
    int err = 0;
    struct ust_stack *s = stack_create_on(&cfg, clock, l, &err);
    if (!s)
        fail_msg("stack_create_on: %s", strerror(-err));
    return s;
}

static int pump(struct ust_stack *a, struct ust_stack *b)
{
    int total = 0;
    for (int i = 0; i < 100; i++) {
        int n = ust_stack_poll(a, NULL) + ust_stack_poll(b, NULL);
        total += n;
        if (n == 0)
            break;
    }
    return total;
}

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 9));
}

static void test_shm_two_stacks_exchange_tcp(void **state)
{
    (void)state;
    char path[128], spec[200];
    new_path(path, sizeof(path));
    struct clk clock;
    clk_init_fake(&clock, 1000 * NS_PER_SEC);
    snprintf(spec, sizeof(spec), "shm:%s,side=0,mtu=9000", path);
    struct ust_stack *a = shm_stack(&clock, spec, "198.18.0.2/24", "02:00:00:00:00:02");
    snprintf(spec, sizeof(spec), "shm:%s,side=1", path);
    struct ust_stack *b = shm_stack(&clock, spec, "198.18.0.1/24", "02:00:00:00:00:01");

    int l = ust_stack_socket(b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr);
    assert_int_equal(ust_bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(ust_listen(l, 4), 0);
    int c = ust_stack_socket(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_equal(ust_connect(c, (struct sockaddr *)&sin, sizeof(sin)), -1);
    assert_int_equal(errno, EINPROGRESS);
    pump(a, b);
    int s = ust_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    assert_true(s >= 0);

    /* 4 MiB from a to b, checked byte by byte, then b closes and a sees the end. */
    const uint64_t total = 4u << 20;
    uint64_t sent = 0, got = 0;
    static uint8_t buf[65536];
    for (int round = 0; got < total && round < 100000; round++) {
        while (sent < total) {
            size_t n = total - sent < sizeof(buf) ? (size_t)(total - sent) : sizeof(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = pattern(sent + i);
            ssize_t w = ust_send(c, buf, n, 0);
            if (w <= 0)
                break;
            sent += (uint64_t)w;
        }
        if (pump(a, b) == 0)
            clk_advance(&clock, 10 * NS_PER_MS);
        ssize_t r;
        while ((r = ust_recv(s, buf, sizeof(buf), 0)) > 0) {
            for (ssize_t i = 0; i < r; i++)
                if (buf[i] != pattern(got + (uint64_t)i))
                    fail_msg("byte %llu differs", (unsigned long long)(got + (uint64_t)i));
            got += (uint64_t)r;
        }
    }
    assert_int_equal(got, total);
    ust_close(c);
    ust_close(s);
    ust_close(l);
    for (int i = 0; i < 200 && (tcp_connection_count(a) || tcp_connection_count(b)); i++) {
        clk_advance(&clock, 1000 * NS_PER_MS);
        pump(a, b);
    }
    assert_int_equal(tcp_connection_count(a), 0);
    assert_int_equal(tcp_connection_count(b), 0);
    assert_int_equal(pkt_pool_in_use(a->pool), 0);
    assert_int_equal(pkt_pool_in_use(b->pool), 0);
    ust_stack_destroy(a);
    ust_stack_destroy(b);
    wire_names_remove(path);
}

static uint64_t counter(struct ust_stack *s, const char *name)
{
    uint64_t v = 0;
    assert_int_equal(ust_stack_counter(s, name, &v), 0);
    return v;
}

/* The peer's stack goes (as its process would when killed: nothing more crosses the wire).
 * An idle connection, with nothing to send and nothing outstanding, used to learn of it only
 * through keepalive; now the first look at the wire ends it with ECONNRESET, counted, while a
 * listener stays, and a new connection over the dead wire fails at once (ENETUNREACH). */
static void test_shm_peer_gone_resets_idle_connections(void **state)
{
    (void)state;
    char path[128], spec[200];
    new_path(path, sizeof(path));
    struct clk clock;
    clk_init_fake(&clock, 1000 * NS_PER_SEC);
    snprintf(spec, sizeof(spec), "shm:%s,side=0", path);
    struct ust_stack *a = shm_stack(&clock, spec, "198.18.0.2/24", "02:00:00:00:00:02");
    snprintf(spec, sizeof(spec), "shm:%s,side=1", path);
    struct ust_stack *b = shm_stack(&clock, spec, "198.18.0.1/24", "02:00:00:00:00:01");

    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr);
    int l = ust_stack_socket(b, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_equal(ust_bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(ust_listen(l, 4), 0);
    struct sockaddr_in mine = { .sin_family = AF_INET, .sin_port = htons(81) };
    int la = ust_stack_socket(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_equal(ust_bind(la, (struct sockaddr *)&mine, sizeof(mine)), 0);
    assert_int_equal(ust_listen(la, 4), 0);
    int c = ust_stack_socket(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_equal(ust_connect(c, (struct sockaddr *)&sin, sizeof(sin)), -1);
    assert_int_equal(errno, EINPROGRESS);
    pump(a, b);
    int s = ust_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    assert_true(s >= 0);
    char byte = 'x';
    assert_int_equal(ust_send(s, &byte, 1, 0), 1);
    pump(a, b);
    assert_int_equal(ust_recv(c, &byte, 1, 0), 1);
    pump(a, b);
    assert_int_equal(ust_recv(c, &byte, 1, 0), -1);   /* idle: nothing in flight either way */
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(tcp_connection_count(a), 1);

    ust_stack_destroy(b);   /* closes s and l, but nothing it queued crosses the wire */
    assert_int_equal(ust_recv(c, &byte, 1, 0), -1);
    assert_int_equal(errno, ECONNRESET);
    assert_int_equal(ust_recv(c, &byte, 1, 0), 0);     /* Linux: the error is reported once */
    assert_int_equal(counter(a, "tcp.iface_down_resets"), 1);
    assert_int_equal(counter(a, "tcp.estab_resets"), 1);
    assert_int_equal(counter(a, "stack.link_errors") > 0, 1);
    assert_int_equal(tcp_connection_count(a), 0);
    assert_int_equal(ust_accept4(la, NULL, NULL, SOCK_NONBLOCK), -1);   /* still listening */
    assert_int_equal(errno, EAGAIN);
    int c2 = ust_stack_socket(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_equal(ust_connect(c2, (struct sockaddr *)&sin, sizeof(sin)), -1);
    assert_int_equal(errno, ENETUNREACH);
    ust_close(c2);
    ust_close(c);
    ust_close(la);
    assert_int_equal(pkt_pool_in_use(a->pool), 0);
    ust_stack_destroy(a);
    wire_names_remove(path);
}

static int bound_socket(struct ust_stack *st, const char *ip, uint16_t port)
{
    int fd = ust_stack_socket(st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    assert_int_equal(ust_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, ip, &sin.sin_addr);
    assert_int_equal(ust_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* A port's bind chain keeps listeners ahead of connections (tcp_table.c), so that a SYN's
 * listener lookup stops at the first connection. A socket that was bound to the port before
 * the listener, and connected out from it before the listener listened, must not hide it. */
static void test_shm_listener_found_behind_a_connection_on_its_port(void **state)
{
    (void)state;
    char path[128], spec[200];
    new_path(path, sizeof(path));
    struct clk clock;
    clk_init_fake(&clock, 1000 * NS_PER_SEC);
    snprintf(spec, sizeof(spec), "shm:%s,side=0", path);
    struct ust_stack *a = shm_stack(&clock, spec, "198.18.0.2/24", "02:00:00:00:00:02");
    snprintf(spec, sizeof(spec), "shm:%s,side=1", path);
    struct ust_stack *b = shm_stack(&clock, spec, "198.18.0.1/24", "02:00:00:00:00:01");

    int la = bound_socket(a, "198.18.0.2", 81);
    assert_int_equal(ust_listen(la, 4), 0);
    int x = bound_socket(b, "198.18.0.1", 80);       /* first on port 80 */
    int l = bound_socket(b, "198.18.0.1", 80);       /* SO_REUSEADDR on both: allowed */
    struct sockaddr_in to_a = { .sin_family = AF_INET, .sin_port = htons(81) };
    inet_pton(AF_INET, "198.18.0.2", &to_a.sin_addr);
    assert_int_equal(ust_connect(x, (struct sockaddr *)&to_a, sizeof(to_a)), -1);
    assert_int_equal(errno, EINPROGRESS);
    pump(a, b);
    int xa = ust_accept4(la, NULL, NULL, SOCK_NONBLOCK);  /* x is a connection on port 80 */
    assert_true(xa >= 0);
    assert_int_equal(ust_listen(l, 4), 0);

    struct sockaddr_in to_b = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "198.18.0.1", &to_b.sin_addr);
    int c = ust_stack_socket(a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_equal(ust_connect(c, (struct sockaddr *)&to_b, sizeof(to_b)), -1);
    pump(a, b);
    int s = ust_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    assert_true(s >= 0);
    assert_int_equal(counter(b, "tcp.passive_opens"), 1);
    int fds[] = { s, c, xa, x, l, la };
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        ust_close(fds[i]);
    ust_stack_destroy(a);
    ust_stack_destroy(b);
    wire_names_remove(path);
}

/* Whatever a failed test left behind. */
static int remove_all(void **state)
{
    (void)state;
    for (unsigned i = 0; i <= file_seq; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/dev/shm/ust-test-%d-%u", (int)getpid(), i);
        wire_names_remove(path);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shm_frames_cross_in_order_both_ways_in_place,
                                        wire_setup, wire_teardown),
        cmocka_unit_test_setup_teardown(test_shm_receiver_holding_every_buffer_is_back_pressure,
                                        wire_setup, wire_teardown),
        cmocka_unit_test_setup_teardown(test_shm_refill_does_not_reread_the_free_ring,
                                        wire_setup, wire_teardown),
        cmocka_unit_test_setup_teardown(test_shm_wakes_only_a_side_that_armed, wire_setup,
                                        wire_teardown),
        cmocka_unit_test_setup_teardown(test_shm_peer_destroyed_means_link_down, wire_setup,
                                        wire_teardown),
        cmocka_unit_test(test_shm_killed_peer_is_detected),
        cmocka_unit_test(test_shm_bad_descriptors_from_the_peer_are_counted_and_dropped),
        cmocka_unit_test(test_shm_foreign_and_corrupt_files_are_refused_untouched),
        cmocka_unit_test(test_shm_stale_wire_is_replaced_and_sides_are_exclusive),
        cmocka_unit_test(test_shm_spec_strings),
        cmocka_unit_test(test_shm_two_stacks_exchange_tcp),
        cmocka_unit_test(test_shm_peer_gone_resets_idle_connections),
        cmocka_unit_test(test_shm_listener_found_behind_a_connection_on_its_port),
    };
    return cmocka_run_group_tests(tests, NULL, remove_all);
}
