/*
 * Packet pool: layout in one region, headroom, push/pull/put/trim bounds, O(1) LIFO reuse,
 * exhaustion counted as ENOBUFS, bulk all-or-nothing, copies, and the in-use count.
 */
#include "testutil.h"

#include <errno.h>
#include <string.h>

#include "base/pkt.h"

static void test_bad_configs_are_refused(void **state)
{
    (void)state;
    struct pkt_pool *pool = NULL;
    struct pkt_pool_config cfg = { .count = 4, .buf_size = 2048, .headroom = 128 };
    assert_int_equal(pkt_pool_create(NULL, &pool), -EINVAL);
    cfg.count = 0;
    assert_int_equal(pkt_pool_create(&cfg, &pool), -EINVAL);
    cfg.count = 4;
    cfg.buf_size = 3000;   /* not a power of two */
    assert_int_equal(pkt_pool_create(&cfg, &pool), -EINVAL);
    cfg.buf_size = 128;    /* too small */
    assert_int_equal(pkt_pool_create(&cfg, &pool), -EINVAL);
    cfg.buf_size = 1u << 17; /* too large */
    assert_int_equal(pkt_pool_create(&cfg, &pool), -EINVAL);
    cfg.buf_size = 2048;
    cfg.headroom = 2048;   /* no room for data */
    assert_int_equal(pkt_pool_create(&cfg, &pool), -EINVAL);
    assert_null(pool);
}

static void test_buffers_are_one_contiguous_region(void **state)
{
    struct pkt_pool *pool = *state;
    size_t size;
    uint8_t *region = pkt_pool_region(pool, &size);
    assert_non_null(region);
    assert_int_equal(size, (size_t)pkt_pool_count(pool) * pkt_pool_buf_size(pool));
    assert_int_equal((uintptr_t)region % 4096, 0);

    struct pkt *all[64];
    assert_int_equal(pkt_alloc_bulk(pool, all, 64), 0);
    for (unsigned i = 0; i < 64; i++) {
        struct pkt *p = all[i];
        assert_true(p->buf >= region && p->buf + pkt_buf_size(p) <= region + size);
        assert_int_equal((size_t)(p->buf - region), (size_t)p->index * pkt_pool_buf_size(pool));
        assert_ptr_equal(pkt_pool_lookup(pool, (uint64_t)(p->buf - region) + 100), p);
    }
    assert_null(pkt_pool_lookup(pool, size));
    pkt_free_bulk(all, 64);
}

static void test_alloc_gives_empty_packet_with_headroom(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt *p = pkt_alloc(pool);
    assert_non_null(p);
    assert_int_equal(p->len, 0);
    assert_int_equal(pkt_headroom(p), PKT_DEFAULT_HEADROOM);
    assert_int_equal(pkt_tailroom(p), PKT_DEFAULT_BUF_SIZE - PKT_DEFAULT_HEADROOM);
    assert_int_equal(p->flags, 0);
    assert_null(p->next);
    assert_int_equal(pkt_pool_in_use(pool), 1);
    pkt_free(p);
    assert_int_equal(pkt_pool_in_use(pool), 0);
}

static void test_push_pull_put_trim_respect_bounds(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt *p = pkt_alloc(pool);

    uint8_t *payload = pkt_put(p, 100);
    assert_non_null(payload);
    memset(payload, 0xab, 100);
    assert_int_equal(p->len, 100);

    uint8_t *hdr = pkt_push(p, 20);
    assert_ptr_equal(hdr, payload - 20);
    assert_int_equal(p->len, 120);
    assert_null(pkt_push(p, PKT_DEFAULT_HEADROOM - 20 + 1));   /* more than the headroom left */
    assert_int_equal(p->len, 120);
    assert_non_null(pkt_push(p, PKT_DEFAULT_HEADROOM - 20));   /* exactly all of it */
    assert_int_equal(pkt_headroom(p), 0);
    assert_null(pkt_push(p, 1));

    assert_ptr_equal(pkt_pull(p, PKT_DEFAULT_HEADROOM - 20), payload - 20);
    assert_null(pkt_pull(p, 121));
    assert_ptr_equal(pkt_pull(p, 20), payload);
    assert_int_equal(p->data[99], 0xab);

    assert_null(pkt_put(p, pkt_tailroom(p) + 1));
    assert_non_null(pkt_put(p, pkt_tailroom(p)));
    assert_int_equal(pkt_tailroom(p), 0);

    pkt_trim(p, 10);
    assert_int_equal(p->len, 10);
    pkt_trim(p, 50);     /* growing is not trimming */
    assert_int_equal(p->len, 10);

    pkt_reset(p);
    assert_int_equal(p->len, 0);
    assert_int_equal(pkt_headroom(p), PKT_DEFAULT_HEADROOM);
    pkt_free(p);
}

static void test_free_is_lifo(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt *a = pkt_alloc(pool);
    struct pkt *b = pkt_alloc(pool);
    pkt_free(a);
    pkt_free(b);
    /* The buffer freed last (warmest in cache) comes back first. */
    assert_ptr_equal(pkt_alloc(pool), b);
    assert_ptr_equal(pkt_alloc(pool), a);
    pkt_free(a);
    pkt_free(b);
}

static void test_exhaustion_is_counted_and_reported(void **state)
{
    (void)state;
    struct pkt_pool *pool = test_pool_new(8);
    struct pkt *p[8];
    for (unsigned i = 0; i < 8; i++)
        assert_non_null(p[i] = pkt_alloc(pool));
    assert_int_equal(pkt_pool_in_use(pool), 8);
    assert_null(pkt_alloc(pool));
    assert_null(pkt_alloc(pool));
    assert_int_equal(pkt_pool_counters(pool)->exhausted, 2);

    /* Bulk is all or nothing. */
    pkt_free(p[7]);
    pkt_free(p[6]);
    struct pkt *q[3] = { NULL, NULL, NULL };
    assert_int_equal(pkt_alloc_bulk(pool, q, 3), -ENOBUFS);
    assert_null(q[0]);
    assert_int_equal(pkt_pool_in_use(pool), 6);
    assert_int_equal(pkt_pool_counters(pool)->exhausted, 3);
    assert_int_equal(pkt_alloc_bulk(pool, q, 2), 0);
    assert_int_equal(pkt_pool_in_use(pool), 8);

    p[6] = q[0];
    p[7] = q[1];
    pkt_free_bulk(p, 8);
    assert_int_equal(pkt_pool_counters(pool)->allocs, pkt_pool_counters(pool)->frees);
    test_pool_free(pool);
}

static void test_chains_and_null(void **state)
{
    struct pkt_pool *pool = *state;
    pkt_free(NULL);
    struct pkt *head = NULL;
    for (int i = 0; i < 5; i++) {
        struct pkt *p = pkt_alloc(pool);
        p->next = head;
        head = p;
    }
    assert_int_equal(pkt_pool_in_use(pool), 5);
    pkt_free_chain(head);
    assert_int_equal(pkt_pool_in_use(pool), 0);
}

static void test_copy_keeps_data_and_metadata(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt_pool *other = test_pool_new(2);
    struct pkt *src = test_pkt_from(pool, "hello, wire", 11);
    pkt_pull(src, 7);   /* "wire", headroom now 135 */
    src->flags = PKT_F_CSUM_VALID;
    src->time_ns = 42;
    struct pkt *c = pkt_copy(other, src);
    assert_non_null(c);
    assert_ptr_equal(c->pool, other);
    assert_int_equal(c->len, 4);
    assert_memory_equal(c->data, "wire", 4);
    assert_int_equal(pkt_headroom(c), pkt_headroom(src));
    assert_int_equal(c->flags, PKT_F_CSUM_VALID);
    assert_int_equal(c->time_ns, 42);
    struct pkt *c2 = pkt_copy(other, src);
    assert_non_null(c2);
    assert_null(pkt_copy(other, src));   /* exhausted */
    pkt_free(c);
    pkt_free(c2);
    pkt_free(src);
    test_pool_free(other);
}

static void test_big_buffers(void **state)
{
    (void)state;
    struct pkt_pool_config cfg = { .name = "jumbo", .count = 4, .buf_size = 65536,
                                   .headroom = 256 };
    struct pkt_pool *pool;
    assert_int_equal(pkt_pool_create(&cfg, &pool), 0);
    assert_string_equal(pkt_pool_name(pool), "jumbo");
    struct pkt *p = pkt_alloc(pool);
    assert_int_equal(pkt_buf_size(p), 65536);
    assert_non_null(pkt_put(p, 65536 - 256));
    pkt_free(p);
    test_pool_free(pool);
}

static void test_shared_packet_freed_on_last_reference(void **state)
{
    struct pkt_pool *pool = *state;
    struct pkt *p = test_pkt_from(pool, "shared", 6);
    p->cb[0] = 7;
    assert_false(pkt_is_shared(p));
    assert_ptr_equal(pkt_ref(p), p);
    assert_true(pkt_is_shared(p));
    pkt_free(p);                         /* the extra reference */
    assert_int_equal(pkt_pool_in_use(pool), 1);
    assert_false(pkt_is_shared(p));
    struct pkt *c = pkt_copy(pool, p);   /* the control block travels with a copy */
    assert_int_equal(c->cb[0], 7);
    assert_false(pkt_is_shared(c));
    pkt_free(c);
    pkt_free(p);
    assert_int_equal(pkt_pool_in_use(pool), 0);
    /* A fresh allocation has no references and no fragments. */
    p = pkt_alloc(pool);
    assert_false(pkt_is_shared(p));
    assert_null(p->frag);
    pkt_free(p);
}

static void test_destroy_reports_leaks(void **state)
{
    (void)state;
    struct pkt_pool *pool = test_pool_new(4);
    assert_non_null(pkt_alloc(pool));
    assert_non_null(pkt_alloc(pool));
    assert_int_equal(pkt_pool_destroy(pool), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs_are_refused),
        cmocka_unit_test_setup_teardown(test_buffers_are_one_contiguous_region,
                                        test_pool_setup, test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_gives_empty_packet_with_headroom,
                                        test_pool_setup, test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_push_pull_put_trim_respect_bounds,
                                        test_pool_setup, test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_free_is_lifo, test_pool_setup, test_pool_teardown),
        cmocka_unit_test(test_exhaustion_is_counted_and_reported),
        cmocka_unit_test_setup_teardown(test_chains_and_null, test_pool_setup,
                                        test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_copy_keeps_data_and_metadata, test_pool_setup,
                                        test_pool_teardown),
        cmocka_unit_test(test_big_buffers),
        cmocka_unit_test_setup_teardown(test_shared_packet_freed_on_last_reference,
                                        test_pool_setup, test_pool_teardown),
        cmocka_unit_test(test_destroy_reports_leaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
