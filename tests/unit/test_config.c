/*
 * The runtime option table: defaults, parsing with range checks and suffixes, the environment,
 * and the generated help. And the keyed hash behind unpredictable choices.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "ustack/config.h"

static void test_defaults(void **state)
{
    (void)state;
    struct ust_config c;
    ust_config_defaults(&c);
    assert_int_equal(c.mtu, 1500);
    assert_int_equal(c.ttl, 64);
    assert_int_equal(c.port_min, 32768);
    assert_int_equal(c.port_max, 60999);
    assert_int_equal(c.rmem_default, 212992);
    assert_string_equal(c.link, "");
}

static void test_set_parses_and_checks_ranges(void **state)
{
    (void)state;
    struct ust_config c;
    ust_config_defaults(&c);
    assert_int_equal(ust_config_set(&c, "mtu", "9000"), 0);
    assert_int_equal(c.mtu, 9000);
    assert_int_equal(ust_config_set(&c, "rmem_max", "8m"), 0);
    assert_int_equal(c.rmem_max, 8u << 20);
    assert_int_equal(ust_config_set(&c, "rmem_default", "64K"), 0);
    assert_int_equal(c.rmem_default, 65536);
    assert_int_equal(ust_config_set(&c, "mtu", "67"), -ERANGE);
    assert_int_equal(ust_config_set(&c, "mtu", "65536"), -ERANGE);
    assert_int_equal(ust_config_set(&c, "mtu", "99999999999999999999999"), -ERANGE);
    assert_int_equal(ust_config_set(&c, "mtu", "15x"), -EINVAL);
    assert_int_equal(ust_config_set(&c, "mtu", ""), -EINVAL);
    assert_int_equal(ust_config_set(&c, "mtu", "-1"), -EINVAL);
    assert_int_equal(c.mtu, 9000);   /* failures change nothing */
    assert_int_equal(ust_config_set(&c, "no_such_option", "1"), -ENOENT);
    assert_int_equal(ust_config_set(&c, "link", "tap:ust0"), 0);
    assert_string_equal(c.link, "tap:ust0");
    char long_value[UST_CONFIG_STR_MAX + 1];
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = 0;
    assert_int_equal(ust_config_set(&c, "link", long_value), -ERANGE);
}

static void test_environment(void **state)
{
    (void)state;
    struct ust_config c;
    char err[128] = "";
    ust_config_defaults(&c);
    setenv("UST_MTU", "1280", 1);
    setenv("UST_ADDR", "198.18.0.2/24", 1);
    assert_int_equal(ust_config_from_env(&c, err, sizeof(err)), 0);
    assert_int_equal(c.mtu, 1280);
    assert_string_equal(c.addr, "198.18.0.2/24");
    setenv("UST_TTL", "300", 1);
    assert_int_equal(ust_config_from_env(&c, err, sizeof(err)), -ERANGE);
    assert_non_null(strstr(err, "UST_TTL=300"));
    unsetenv("UST_MTU");
    unsetenv("UST_ADDR");
    unsetenv("UST_TTL");
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ust_config_help(f);
    fclose(f);
    static const char *const names[] = { "link", "UST_LINK", "addr", "mtu", "UST_MTU",
                                         "68..65535", "max_sockets", "UST_SPIN_US" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_non_null(strstr(buf, names[i]));
    free(buf);
}

/* The reference vector of the SipHash paper (appendix A): key 00..0f, message 00..0e. */
static void test_siphash_reference_vector(void **state)
{
    (void)state;
    struct hash_key k = { .k0 = UINT64_C(0x0706050403020100), .k1 = UINT64_C(0x0f0e0d0c0b0a0908) };
    uint8_t msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    assert_true(siphash24(&k, msg, sizeof(msg)) == UINT64_C(0xa129ca6149be45e5));
    struct hash_key r1, r2;
    hash_key_random(&r1);
    hash_key_random(&r2);
    assert_true(r1.k0 != r2.k0 || r1.k1 != r2.k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_parses_and_checks_ranges),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_siphash_reference_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
