/*
 * Named counters.
 *
 * A module declares its counters once, as an X-macro list of (name, one-line description):
 *
 *     #define ARP_COUNTERS(X) \
 *         X(rx_requests, "ARP requests received") \
 *         X(drop_bad_hw_type, "dropped: hardware type is not Ethernet")
 *     CTR_DEFINE(arp_ctrs, ARP_COUNTERS)          (in the header: struct arp_ctrs)
 *     CTR_DESCRIBE(arp_ctrs, ARP_COUNTERS)        (in one .c file: the names and descriptions)
 *
 * The struct holds only uint64_t fields, in list order, so code increments plain fields
 * (`c->drop_bad_hw_type++`, no lookup on the data path) while tools and tests walk a group by
 * name through struct ctr_group. Counters are updated under the owner's lock; readers outside it
 * (a later shared-memory page for `ustack stat`) may see a slightly stale value, never a torn one.
 */
#ifndef UST_BASE_COUNTERS_H
#define UST_BASE_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct ctr_desc {
    const char *name;
    const char *doc;
};

#define CTR_FIELD_(name, doc) uint64_t name;
#define CTR_DESC_(name, doc) { #name, doc },
#define CTR_ONE_(name, doc) +1

/* Declares `struct tag` with one uint64_t per counter, and its description table. */
#define CTR_DEFINE(tag, LIST)                                                       \
    struct tag { LIST(CTR_FIELD_) };                                                \
    enum { tag##_count = 0 LIST(CTR_ONE_) };                                        \
    extern const struct ctr_desc tag##_desc[];

/* Defines the description table of `struct tag` (once, in a .c file). */
#define CTR_DESCRIBE(tag, LIST)                                                     \
    const struct ctr_desc tag##_desc[] = { LIST(CTR_DESC_) };                       \
    _Static_assert(sizeof(struct tag) == tag##_count * sizeof(uint64_t),            \
                   #tag " must hold only its uint64_t counters");

/* A named view of one counter struct. */
struct ctr_group {
    const char *name;              /* e.g. "pool.rx" */
    const struct ctr_desc *desc;   /* desc[i] describes counter i */
    unsigned n;                    /* number of counters */
    const void *values;            /* the counter struct */
};

/* A group view over a counter struct: CTR_GROUP("arp", arp_ctrs, &stack->arp_ctrs). */
#define CTR_GROUP(gname, tag, ptr)                                                  \
    ((struct ctr_group){ .name = (gname), .desc = tag##_desc, .n = tag##_count,     \
                         .values = (const struct tag *)(ptr) })

uint64_t ctr_group_value(const struct ctr_group *g, unsigned i);
/* Finds counter `name` in g. Returns 0 and stores its value, or -ENOENT. */
int ctr_group_find(const struct ctr_group *g, const char *name, uint64_t *value);
/* Prints "group.counter value" lines; with nonzero_only, skips counters that are zero. */
void ctr_group_print(FILE *f, const struct ctr_group *g, bool nonzero_only);

/* A bounded set of groups, e.g. everything one stack or one test owns. */
#define CTR_SET_MAX 64

struct ctr_set {
    struct ctr_group groups[CTR_SET_MAX];
    unsigned n;
};

/* Adds a group view. Returns 0, or -ENOSPC when the set is full. */
int ctr_set_add(struct ctr_set *s, struct ctr_group g);
/* Finds "group.counter". Returns 0 and stores the value, or -ENOENT. */
int ctr_set_find(const struct ctr_set *s, const char *path, uint64_t *value);
/* The value of "group.counter"; a missing counter is a caller bug and reads as UINT64_MAX. */
uint64_t ctr_set_get(const struct ctr_set *s, const char *path);
void ctr_set_print(FILE *f, const struct ctr_set *s, bool nonzero_only);

#endif
