/*
 * The shared-memory wire's pieces on their own: the SPSC ring (empty, full, wraparound of the
 * free-running indices, the lazy copy of the other side's index, impossible indices from a
 * corrupt peer), the packet pool over lent memory, and header validation (every corrupt field
 * refused with the right error and a reason).
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "link/shm.h"

struct ring4 {
    struct shm_ring_ctl ctl;
    uint32_t e[4];
};

static void setup_ring(struct ring4 *r, uint32_t start, struct shm_ring_end *p,
                       struct shm_ring_end *c)
{
    memset(r, 0, sizeof(*r));
    atomic_store(&r->ctl.prod, start);
    atomic_store(&r->ctl.cons, start);
    shm_ring_attach(p, &r->ctl, 3, 1);
    shm_ring_attach(c, &r->ctl, 3, 0);
}

static void produce(struct shm_ring_end *p, uint32_t *e, uint32_t v)
{
    e[p->mine++ & p->mask] = v;
}

static uint32_t consume(struct shm_ring_end *c, const uint32_t *e)
{
    return e[c->mine++ & c->mask];
}

static void test_ring_empty_and_full(void **state)
{
    (void)state;
    struct ring4 r;
    struct shm_ring_end p, c;
    setup_ring(&r, 0, &p, &c);
    assert_int_equal(shm_ring_avail(&c, 1), 0);          /* empty */
    assert_int_equal(shm_ring_space(&p, 1), 4);
    for (uint32_t i = 0; i < 4; i++)
        produce(&p, r.e, 100 + i);
    shm_ring_publish(&p, 1);
    assert_int_equal(shm_ring_space(&p, 1), 0);          /* full */
    assert_int_equal(shm_ring_avail(&c, 1), 4);
    assert_int_equal(consume(&c, r.e), 100);
    assert_int_equal(shm_ring_space(&p, 1), 0);          /* not published yet: still full */
    shm_ring_publish(&c, 0);
    assert_int_equal(shm_ring_space(&p, 1), 1);
    for (uint32_t i = 1; i < 4; i++)
        assert_int_equal(consume(&c, r.e), 100 + i);
    shm_ring_publish(&c, 0);
    assert_int_equal(shm_ring_avail(&c, 1), 0);
    assert_int_equal(shm_ring_space(&p, 4), 4);
}

static void test_ring_indices_wrap_around_2_pow_32(void **state)
{
    (void)state;
    struct ring4 r;
    struct shm_ring_end p, c;
    setup_ring(&r, UINT32_MAX - 5, &p, &c);
    uint32_t next = 0, want = 0;
    for (int round = 0; round < 10; round++) {
        int64_t room = shm_ring_space(&p, 3);
        assert_true(room >= 3);
        for (int i = 0; i < 3; i++)
            produce(&p, r.e, next++);
        shm_ring_publish(&p, 1);
        assert_int_equal(shm_ring_avail(&c, 3), 3);
        for (int i = 0; i < 3; i++)
            assert_int_equal(consume(&c, r.e), want++);
        shm_ring_publish(&c, 0);
    }
    assert_true(p.mine < 100);                           /* it did cross zero */
    assert_int_equal(shm_ring_avail(&c, 1), 0);
}

static void test_ring_rereads_the_other_index_only_when_it_must(void **state)
{
    (void)state;
    struct ring4 r;
    struct shm_ring_end p, c;
    setup_ring(&r, 0, &p, &c);
    /* Producer: 4 free according to its copy: no reread for up to 4. */
    assert_int_equal(shm_ring_space(&p, 2), 4);
    assert_int_equal(p.rereads, 0);
    produce(&p, r.e, 1);
    produce(&p, r.e, 2);
    shm_ring_publish(&p, 1);
    assert_int_equal(shm_ring_space(&p, 2), 2);
    assert_int_equal(p.rereads, 0);
    /* Consumer: its copy says empty, so it reads prod once; then 2 are known. */
    assert_int_equal(shm_ring_avail(&c, 1), 2);
    assert_int_equal(c.rereads, 1);
    assert_int_equal(shm_ring_avail(&c, 2), 2);
    assert_int_equal(c.rereads, 1);
    consume(&c, r.e);
    assert_int_equal(shm_ring_avail(&c, 1), 1);
    assert_int_equal(c.rereads, 1);
    consume(&c, r.e);
    shm_ring_publish(&c, 0);
    /* The producer's stale copy still says 2 free; asking for 3 forces the reread. */
    assert_int_equal(shm_ring_space(&p, 2), 2);
    assert_int_equal(p.rereads, 0);
    assert_int_equal(shm_ring_space(&p, 3), 4);
    assert_int_equal(p.rereads, 1);
    /* And the shared lines were never written by the wrong side. */
    assert_int_equal(atomic_load(&r.ctl.prod), 2);
    assert_int_equal(atomic_load(&r.ctl.cons), 2);
}

static void test_ring_impossible_indices_are_protocol_errors(void **state)
{
    (void)state;
    struct ring4 r;
    struct shm_ring_end p, c;
    setup_ring(&r, 10, &p, &c);
    atomic_store(&r.ctl.prod, 10 + 5);                   /* more than a ring full */
    assert_int_equal(shm_ring_avail(&c, 1), -EPROTO);
    atomic_store(&r.ctl.prod, 10 - 1);                   /* behind the consumer */
    assert_int_equal(shm_ring_avail(&c, 1), -EPROTO);
    atomic_store(&r.ctl.cons, 10 + 1);                   /* consumer ahead of the producer */
    assert_int_equal(shm_ring_space(&p, 5), -EPROTO);
}

static void test_pool_over_lent_memory(void **state)
{
    (void)state;
    size_t size = 8 * 2048;
    uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    struct pkt_pool *pool;
    struct pkt_pool_config cfg = { .name = "lent", .count = 8, .buf_size = 2048,
                                   .headroom = 64, .region = mem };
    assert_int_equal(pkt_pool_create(&cfg, &pool), 0);
    size_t rsize;
    assert_ptr_equal(pkt_pool_region(pool, &rsize), mem);
    assert_int_equal(rsize, size);
    struct pkt *p = pkt_alloc(pool);
    assert_true(p->buf >= mem && p->buf < mem + size);
    memcpy(pkt_put(p, 5), "hello", 5);
    size_t at = (size_t)p->index * 2048 + 64;
    pkt_free(p);
    assert_int_equal(pkt_pool_destroy(pool), 0);
    /* Still ours and still mapped: the pool did not unmap it. */
    assert_memory_equal(mem + at, "hello", 5);
    munmap(mem, size);
}

/* ---- Header validation ---- */

static void good_header(struct shm_hdr *h)
{
    assert_int_equal(shm_layout(1500, 256, h), 0);
}

static void expect_refused(const struct shm_hdr *h, uint64_t size, int err, const char *word)
{
    const char *why = NULL;
    assert_int_equal(shm_hdr_validate(h, size, &why), err);
    assert_non_null(why);
    if (!strstr(why, word))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, word);
}

static void test_layout_is_sane(void **state)
{
    (void)state;
    struct shm_hdr h;
    good_header(&h);
    assert_int_equal(h.buf_size, 2048);
    assert_int_equal(h.dir[0].slab_off % 4096, 0);
    assert_true(h.dir[0].free_off >= h.dir[0].used_off + 128 + 256 * 8);
    assert_true(h.dir[1].used_off >= h.dir[0].free_off + 128 + 256 * 4);
    assert_int_equal(h.dir[1].slab_off, h.dir[0].slab_off + 256 * 2048);
    assert_int_equal(h.file_size, h.dir[1].slab_off + 256 * 2048);
    assert_int_equal(shm_hdr_validate(&h, h.file_size, NULL), 0);
    /* The largest MTU fits a 64 KiB buffer with the headroom and the Ethernet header. */
    assert_int_equal(shm_layout(SHM_MAX_MTU, 2, &h), 0);
    assert_int_equal(h.buf_size, 65536);
    assert_int_equal(shm_layout(SHM_MAX_MTU + 1, 2, &h), -EINVAL);
    assert_int_equal(shm_layout(67, 2, &h), -EINVAL);
    assert_int_equal(shm_layout(1500, 3, &h), -EINVAL);
    assert_int_equal(shm_layout(1500, 1, &h), -EINVAL);
    assert_int_equal(shm_layout(1500, 1u << 17, &h), -EINVAL);
}

static void test_corrupt_headers_are_refused(void **state)
{
    (void)state;
    struct shm_hdr g, h;
    good_header(&g);
    uint64_t size = g.file_size;
    expect_refused(&g, sizeof(g) - 1, -EPROTO, "short");
    h = g, h.magic ^= 1;
    expect_refused(&h, size, -EPROTO, "magic");
    h = g, h.version = 2;
    expect_refused(&h, size, -EPROTO, "version");
    h = g, h.hdr_size = 8;
    expect_refused(&h, size, -EINVAL, "header size");
    h = g, h.headroom = 0;
    expect_refused(&h, size, -EINVAL, "headroom");
    h = g, h.mtu = 70000;
    expect_refused(&h, size, -EINVAL, "mtu");
    h = g, h.slots = 255;
    expect_refused(&h, size, -EINVAL, "slots");
    h = g, h.buf_size = 1024;                 /* too small for the MTU: writes past buffers */
    expect_refused(&h, size, -EINVAL, "buffer size");
    h = g, h.buf_size = 4096;
    expect_refused(&h, size, -EINVAL, "buffer size");
    h = g, h.file_size += 4096;               /* claims more than the file has */
    expect_refused(&h, size, -EINVAL, "file size");
    expect_refused(&g, size - 1, -EINVAL, "file size");
    h = g, h.dir[1].slab_off = h.dir[0].slab_off;   /* overlapping slabs */
    expect_refused(&h, size, -EINVAL, "offset");
    h = g, h.dir[0].used_off = 0;             /* a ring over the header */
    expect_refused(&h, size, -EINVAL, "offset");
    h = g, h.dir[0].free_off += 4;            /* misaligned */
    expect_refused(&h, size, -EINVAL, "offset");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_empty_and_full),
        cmocka_unit_test(test_ring_indices_wrap_around_2_pow_32),
        cmocka_unit_test(test_ring_rereads_the_other_index_only_when_it_must),
        cmocka_unit_test(test_ring_impossible_indices_are_protocol_errors),
        cmocka_unit_test(test_pool_over_lent_memory),
        cmocka_unit_test(test_layout_is_sane),
        cmocka_unit_test(test_corrupt_headers_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
