/*
 * The LD_PRELOAD shim's decisions and bookkeeping, without a stack or a process to interpose:
 * which addresses go to ustack (decide.c), the pending-socket records (fdtab.c), and that the
 * list of renamed libc symbols (real.syms) matches the functions the shim resolves (real.h).
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decide.h"
#include "fdtab.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static struct pl_policy one_net(uint32_t gw)
{
    struct pl_policy p = { .n_nets = 1, .gateway = gw };
    p.nets[0] = (struct pl_net){ .addr = IP(198, 18, 5, 2), .mask = 0xffffff00u };
    return p;
}

static void test_connect_on_link_goes_to_ustack(void **state)
{
    (void)state;
    struct pl_policy p = one_net(0);
    const char *why = NULL;
    assert_int_equal(pl_decide_connect(&p, IP(198, 18, 5, 1), &why), PL_USTACK);
    assert_non_null(strstr(why, "network"));
    assert_int_equal(pl_decide_connect(&p, IP(198, 18, 5, 2), &why), PL_USTACK);
    assert_non_null(strstr(why, "own address"));
}

static void test_connect_elsewhere_needs_a_gateway(void **state)
{
    (void)state;
    struct pl_policy p = one_net(0);
    const char *why;
    assert_int_equal(pl_decide_connect(&p, IP(198, 18, 6, 1), &why), PL_KERNEL);
    assert_non_null(strstr(why, "no gateway"));
    p = one_net(IP(198, 18, 5, 1));
    assert_int_equal(pl_decide_connect(&p, IP(198, 18, 6, 1), &why), PL_USTACK);
    assert_non_null(strstr(why, "gateway"));
}

static void test_connect_loopback_multicast_any_stay_kernel(void **state)
{
    (void)state;
    struct pl_policy p = one_net(IP(198, 18, 5, 1));   /* even with a gateway */
    const char *why;
    assert_int_equal(pl_decide_connect(&p, IP(127, 0, 0, 1), &why), PL_KERNEL);
    assert_int_equal(pl_decide_connect(&p, IP(127, 9, 9, 9), &why), PL_KERNEL);
    assert_int_equal(pl_decide_connect(&p, 0, &why), PL_KERNEL);
    assert_int_equal(pl_decide_connect(&p, IP(224, 0, 0, 251), &why), PL_KERNEL);
    assert_int_equal(pl_decide_connect(&p, IP(255, 255, 255, 255), &why), PL_KERNEL);
}

static void test_bind_rules(void **state)
{
    (void)state;
    struct pl_policy p = one_net(0);
    const char *why;
    assert_int_equal(pl_decide_bind(&p, IP(198, 18, 5, 2), 80, &why), PL_USTACK);
    assert_int_equal(pl_decide_bind(&p, IP(198, 18, 5, 2), 0, &why), PL_USTACK);
    /* Another address of the same network is not ours: the kernel's (EADDRNOTAVAIL there). */
    assert_int_equal(pl_decide_bind(&p, IP(198, 18, 5, 3), 80, &why), PL_KERNEL);
    assert_int_equal(pl_decide_bind(&p, IP(127, 0, 0, 1), 80, &why), PL_KERNEL);
    /* A client's bind(0.0.0.0:0) before connect decides nothing. */
    assert_int_equal(pl_decide_bind(&p, 0, 0, &why), PL_UNDECIDED);
    assert_int_equal(pl_decide_bind(&p, 0, 8080, &why), PL_USTACK);
    assert_int_equal(pl_decide_listen(&p, &why), PL_USTACK);
    p.bind_any_kernel = true;
    assert_int_equal(pl_decide_bind(&p, 0, 8080, &why), PL_KERNEL);
    assert_non_null(strstr(why, "UST_BIND_ANY=kernel"));
    assert_int_equal(pl_decide_listen(&p, &why), PL_KERNEL);
    assert_int_equal(pl_decide_bind(&p, IP(198, 18, 5, 2), 80, &why), PL_USTACK);
}

static void test_no_stack_networks_means_kernel(void **state)
{
    (void)state;
    struct pl_policy p = { 0 };
    const char *why;
    assert_int_equal(pl_decide_connect(&p, IP(198, 18, 5, 1), &why), PL_KERNEL);
    assert_int_equal(pl_decide_bind(&p, IP(198, 18, 5, 2), 1, &why), PL_KERNEL);
}

static void test_parse_bind_any(void **state)
{
    (void)state;
    bool k = true;
    assert_int_equal(pl_parse_bind_any("ustack", &k), 0);
    assert_false(k);
    assert_int_equal(pl_parse_bind_any("kernel", &k), 0);
    assert_true(k);
    assert_int_equal(pl_parse_bind_any(NULL, &k), 0);
    assert_int_equal(pl_parse_bind_any("", &k), 0);
    assert_true(k);
    assert_int_equal(pl_parse_bind_any("both", &k), -EINVAL);
}

/* ---- fdtab ---- */

static void test_kinds_default_to_kernel(void **state)
{
    (void)state;
    assert_int_equal(pl_fdtab_init(), 0);
    assert_int_equal(pl_kind(-1), PL_FD_KERNEL);
    assert_int_equal(pl_kind(5), PL_FD_KERNEL);
    assert_int_equal(pl_kind((int)PL_FD_MAX), PL_FD_KERNEL);
    assert_null(pl_pending(5));
}

static void test_pending_record_life(void **state)
{
    (void)state;
    assert_int_equal(pl_fdtab_init(), 0);
    assert_int_equal(pl_make_pending(40, 1, 6), 0);
    assert_int_equal(pl_kind(40), PL_FD_PENDING);
    struct pl_pending *p = pl_pending(40);
    assert_non_null(p);
    assert_int_equal(p->type, 1);
    assert_int_equal(p->protocol, 6);
    assert_true(pl_fd_high() >= 40);
    pl_set_kind(40, PL_FD_USTACK);
    assert_int_equal(pl_kind(40), PL_FD_USTACK);
    assert_null(pl_pending(40));   /* the record went with the kind (ASan checks the free) */
    pl_set_kind(40, PL_FD_KERNEL);
    assert_int_equal(pl_kind(40), PL_FD_KERNEL);
    assert_int_equal(pl_make_pending(-1, 1, 0), -EBADF);
    assert_int_equal(pl_make_pending((int)PL_FD_MAX, 1, 0), -EBADF);
}

static void test_options_replace_and_overflow(void **state)
{
    (void)state;
    assert_int_equal(pl_make_pending(41, 1, 0), 0);
    struct pl_pending *p = pl_pending(41);
    int one = 1, two = 2;
    assert_true(pl_pending_add_opt(p, 1, 2, &one, sizeof(one)));
    assert_true(pl_pending_add_opt(p, 1, 2, &two, sizeof(two)));   /* same option: replaced */
    assert_int_equal(p->n_opts, 1);
    assert_memory_equal(p->opts[0].val, &two, sizeof(two));
    char big[PL_OPT_LEN + 1] = { 0 };
    assert_false(pl_pending_add_opt(p, 1, 3, big, sizeof(big)));
    assert_false(pl_pending_add_opt(p, 1, 3, NULL, 4));
    for (int i = 1; i < PL_MAX_OPTS; i++)
        assert_true(pl_pending_add_opt(p, 6, i, &one, sizeof(one)));
    assert_int_equal(p->n_opts, PL_MAX_OPTS);
    assert_false(pl_pending_add_opt(p, 6, 999, &one, sizeof(one)));
    assert_true(pl_pending_add_opt(p, 6, 1, &two, sizeof(two)));   /* replacing still fits */
    pl_set_kind(41, PL_FD_KERNEL);
}

static void test_epoll_registrations_follow_ctl(void **state)
{
    (void)state;
    assert_int_equal(pl_make_pending(42, 1, 0), 0);
    struct pl_pending *p = pl_pending(42);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
    assert_true(pl_pending_epoll(p, 10, EPOLL_CTL_MOD, &ev));   /* not added: ignored */
    assert_int_equal(p->n_ep, 0);
    assert_true(pl_pending_epoll(p, 10, EPOLL_CTL_ADD, &ev));
    ev.events = EPOLLOUT;
    assert_true(pl_pending_epoll(p, 10, EPOLL_CTL_MOD, &ev));
    assert_int_equal(p->n_ep, 1);
    assert_int_equal(p->ep[0].ev.events, EPOLLOUT);
    assert_int_equal(p->ep[0].ev.data.u64, 7);
    for (int i = 1; i < PL_MAX_EP; i++)
        assert_true(pl_pending_epoll(p, 10 + i, EPOLL_CTL_ADD, &ev));
    assert_false(pl_pending_epoll(p, 99, EPOLL_CTL_ADD, &ev));
    assert_true(pl_pending_epoll(p, 10, EPOLL_CTL_DEL, NULL));
    assert_int_equal(p->n_ep, PL_MAX_EP - 1);
    for (unsigned i = 0; i < p->n_ep; i++)
        assert_int_not_equal(p->ep[i].epfd, 10);
    pl_set_kind(42, PL_FD_KERNEL);
}

static void test_aliases_hand_the_socket_on(void **state)
{
    (void)state;
    assert_int_equal(pl_fdtab_init(), 0);
    pl_set_kind(50, PL_FD_USTACK);
    pl_alias_add(50, 53);
    pl_alias_add(50, 51);
    pl_alias_add(50, 57);
    assert_int_equal(pl_kind(51), PL_FD_ALIAS);
    assert_true(pl_is_ustack(51));
    assert_int_equal(pl_ufd(51), 50);
    assert_int_equal(pl_ufd(50), 50);
    assert_int_equal(pl_ufd(52), -1);
    assert_int_equal(pl_links[50], 3);
    /* Dropping an alias. */
    assert_int_equal(pl_alias_drop(57), 50);
    assert_int_equal(pl_kind(57), PL_FD_KERNEL);
    assert_int_equal(pl_links[50], 2);
    assert_int_equal(pl_alias_drop(57), -1);
    /* Closing the primary: the lowest alias takes over, the other follows it. */
    assert_int_equal(pl_alias_first(50), 51);
    assert_int_equal(pl_alias_successor(50), 51);
    pl_set_kind(50, PL_FD_KERNEL);
    assert_int_equal(pl_kind(51), PL_FD_USTACK);
    assert_int_equal(pl_ufd(51), 51);
    assert_int_equal(pl_ufd(53), 51);
    assert_int_equal(pl_links[51], 1);
    assert_int_equal(pl_alias_first(51), 53);
    assert_int_equal(pl_alias_successor(51), 53);
    pl_set_kind(51, PL_FD_KERNEL);
    assert_int_equal(pl_kind(53), PL_FD_USTACK);
    assert_int_equal(pl_links[53], 0);
    assert_int_equal(pl_alias_first(53), -1);
    assert_int_equal(pl_alias_successor(53), -1);
    pl_set_kind(53, PL_FD_KERNEL);
}

/* ---- real.syms against real.h ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

static void test_renamed_symbols_match_resolved_functions(void **state)
{
    (void)state;
    char *h = slurp(UST_PL_REAL_H);
    char *syms = slurp(UST_PL_SYMS);
    unsigned from_h = 0, found = 0;
    /* Every "X(type, NAME," line of the table must appear as "NAME ust_real_NAME". */
    for (char *p = strstr(h, "    X("); p; p = strstr(p + 1, "    X(")) {
        char *comma = strchr(p, ',');
        assert_non_null(comma);
        char name[64];
        assert_int_equal(sscanf(comma + 1, " %63[a-z0-9_]", name), 1);
        char want[160];
        snprintf(want, sizeof(want), "%s ust_real_%s\n", name, name);
        from_h++;
        if (strstr(syms, want))
            found++;
        else
            fail_msg("real.syms lacks \"%s ust_real_%s\"", name, name);
    }
    unsigned lines = 0;
    for (char *p = syms; *p; p++)
        lines += *p == '\n';
    assert_true(from_h > 30);
    assert_int_equal(found, from_h);
    assert_int_equal(lines, from_h + 3);   /* + fcntl, fcntl64, ioctl (variadic) */
    free(h);
    free(syms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_on_link_goes_to_ustack),
        cmocka_unit_test(test_connect_elsewhere_needs_a_gateway),
        cmocka_unit_test(test_connect_loopback_multicast_any_stay_kernel),
        cmocka_unit_test(test_bind_rules),
        cmocka_unit_test(test_no_stack_networks_means_kernel),
        cmocka_unit_test(test_parse_bind_any),
        cmocka_unit_test(test_kinds_default_to_kernel),
        cmocka_unit_test(test_pending_record_life),
        cmocka_unit_test(test_options_replace_and_overflow),
        cmocka_unit_test(test_epoll_registrations_follow_ctl),
        cmocka_unit_test(test_aliases_hand_the_socket_on),
        cmocka_unit_test(test_renamed_symbols_match_resolved_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
