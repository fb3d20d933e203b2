/*
 * Named counters: X-macro structs are walked by name, sets find "group.counter", printing shows
 * every counter or only the nonzero ones; clocks: fake time only moves forwards.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/counters.h"

#define DEMO_COUNTERS(X)                         \
    X(rx, "frames received")                     \
    X(drop_short, "dropped: shorter than a header") \
    X(tx, "frames sent")

CTR_DEFINE(demo_ctrs, DEMO_COUNTERS)
CTR_DESCRIBE(demo_ctrs, DEMO_COUNTERS)

static void test_group_lookup_by_name(void **state)
{
    (void)state;
    struct demo_ctrs c = { .rx = 5, .drop_short = 2 };
    c.tx += 7;
    struct ctr_group g = CTR_GROUP("demo", demo_ctrs, &c);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.desc[1].name, "drop_short");
    assert_string_equal(g.desc[1].doc, "dropped: shorter than a header");
    uint64_t v = 0;
    assert_int_equal(ctr_group_find(&g, "tx", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(ctr_group_value(&g, 0), 5);
    assert_int_equal(ctr_group_find(&g, "nope", &v), -ENOENT);
}

static void test_set_paths_and_print(void **state)
{
    (void)state;
    struct demo_ctrs a = { .rx = 1 }, b = { .tx = 9 };
    struct ctr_set set = { 0 };
    assert_int_equal(ctr_set_add(&set, CTR_GROUP("link.a", demo_ctrs, &a)), 0);
    assert_int_equal(ctr_set_add(&set, CTR_GROUP("link.b", demo_ctrs, &b)), 0);
    assert_int_equal(ctr_set_get(&set, "link.a.rx"), 1);
    assert_int_equal(ctr_set_get(&set, "link.b.tx"), 9);
    assert_true(ctr_set_get(&set, "link.c.tx") == UINT64_MAX);
    assert_true(ctr_set_get(&set, "norx") == UINT64_MAX);
    a.rx++;
    assert_int_equal(ctr_set_get(&set, "link.a.rx"), 2);   /* a view, not a snapshot */

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctr_set_print(f, &set, true);
    fclose(f);
    assert_string_equal(buf, "link.a.rx 2\nlink.b.tx 9\n");
    free(buf);

    f = open_memstream(&buf, &len);
    ctr_set_print(f, &set, false);
    fclose(f);
    assert_non_null(strstr(buf, "link.a.drop_short 0\n"));
    free(buf);

    for (unsigned i = set.n; i < CTR_SET_MAX; i++)
        assert_int_equal(ctr_set_add(&set, CTR_GROUP("x", demo_ctrs, &a)), 0);
    assert_int_equal(ctr_set_add(&set, CTR_GROUP("x", demo_ctrs, &a)), -ENOSPC);
}

static void test_fake_clock_moves_only_forwards(void **state)
{
    (void)state;
    struct clk c;
    clk_init_fake(&c, 1000);
    assert_int_equal(clk_now(&c), 1000);
    clk_advance(&c, 500);
    assert_int_equal(clk_now(&c), 1500);
    clk_set(&c, 1200);
    assert_int_equal(clk_now(&c), 1500);
    clk_set(&c, 9000);
    assert_int_equal(clk_now(&c), 9000);

    struct clk real;
    clk_init_real(&real);
    uint64_t t1 = clk_now(&real);
    uint64_t t2 = clk_now(&real);
    assert_true(t1 > 0 && t2 >= t1);
    clk_advance(&real, NS_PER_SEC);   /* no effect on a real clock */
    assert_true(clk_now(&real) - t2 < NS_PER_SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_lookup_by_name),
        cmocka_unit_test(test_set_paths_and_print),
        cmocka_unit_test(test_fake_clock_moves_only_forwards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
