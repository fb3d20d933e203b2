/*
 * Shared test helpers (cmocka).
 *
 * Every test that touches packets takes its pool from test_pool_setup() and checks in
 * test_pool_teardown() that every buffer came back: each test also proves it leaked nothing.
 */
#ifndef UST_TESTUTIL_H
#define UST_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the includes above first. */
#include <cmocka.h>

#include "base/pkt.h"

/* A pool of `count` default-sized buffers; fails the test if it cannot be made. */
struct pkt_pool *test_pool_new(uint32_t count);
/* Destroys the pool, failing the test if any packet is still in use. */
void test_pool_free(struct pkt_pool *pool);

/* cmocka group/test fixtures: *state becomes a 64-buffer pool. */
int test_pool_setup(void **state);
int test_pool_teardown(void **state);

/* A packet from `pool` holding a copy of bytes[0..len). */
struct pkt *test_pkt_from(struct pkt_pool *pool, const void *bytes, size_t len);

/* Path of a scratch file under the build tree's tests/tmp, unique to this process:
 * test_tmp_path(buf, sizeof buf, "capture.pcap"). */
const char *test_tmp_path(char *buf, size_t cap, const char *name);

/* Runs a shell command, returning its standard output (malloc'd, NUL-terminated) and storing
 * its exit status; NULL if it could not be started. */
char *test_run_capture(const char *cmd, int *status);

#endif
