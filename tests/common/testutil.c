/* Shared test helpers (see testutil.h). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct pkt_pool *test_pool_new(uint32_t count)
{
    struct pkt_pool_config cfg = {
        .name = "test",
        .count = count,
        .buf_size = PKT_DEFAULT_BUF_SIZE,
        .headroom = PKT_DEFAULT_HEADROOM,
    };
    struct pkt_pool *pool = NULL;
    assert_int_equal(pkt_pool_create(&cfg, &pool), 0);
    return pool;
}

void test_pool_free(struct pkt_pool *pool)
{
    assert_int_equal(pkt_pool_in_use(pool), 0);
    assert_int_equal(pkt_pool_destroy(pool), 0);
}

int test_pool_setup(void **state)
{
    *state = test_pool_new(64);
    return 0;
}

int test_pool_teardown(void **state)
{
    test_pool_free(*state);
    return 0;
}

struct pkt *test_pkt_from(struct pkt_pool *pool, const void *bytes, size_t len)
{
    struct pkt *p = pkt_alloc(pool);
    assert_non_null(p);
    uint8_t *dst = pkt_put(p, (uint32_t)len);
    assert_non_null(dst);
    memcpy(dst, bytes, len);
    return p;
}

const char *test_tmp_path(char *buf, size_t cap, const char *name)
{
    const char *dir = getenv("UST_TEST_TMP");
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(buf, cap, "%s/%d-%s", dir, (int)getpid(), name);
    return buf;
}

char *test_run_capture(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = 0;
    int st = pclose(f);
    if (status)
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}
