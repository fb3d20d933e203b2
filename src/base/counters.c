/*
 * Named counters: lookup and printing over the X-macro counter structs (see counters.h).
 * Nothing here is on the data path; the data path increments struct fields directly.
 */
#include "base/counters.h"

#include <errno.h>
#include <string.h>

uint64_t ctr_group_value(const struct ctr_group *g, unsigned i)
{
    uint64_t v;
    memcpy(&v, (const uint8_t *)g->values + (size_t)i * sizeof(uint64_t), sizeof(v));
    return v;
}

int ctr_group_find(const struct ctr_group *g, const char *name, uint64_t *value)
{
    for (unsigned i = 0; i < g->n; i++) {
        if (strcmp(g->desc[i].name, name) == 0) {
            *value = ctr_group_value(g, i);
            return 0;
        }
    }
    return -ENOENT;
}

void ctr_group_print(FILE *f, const struct ctr_group *g, bool nonzero_only)
{
    for (unsigned i = 0; i < g->n; i++) {
        uint64_t v = ctr_group_value(g, i);
        if (nonzero_only && v == 0)
            continue;
        fprintf(f, "%s.%s %llu\n", g->name, g->desc[i].name, (unsigned long long)v);
    }
}

int ctr_set_add(struct ctr_set *s, struct ctr_group g)
{
    if (s->n >= CTR_SET_MAX)
        return -ENOSPC;
    s->groups[s->n++] = g;
    return 0;
}

int ctr_set_find(const struct ctr_set *s, const char *path, uint64_t *value)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return -ENOENT;
    size_t glen = (size_t)(dot - path);
    for (unsigned i = 0; i < s->n; i++) {
        const struct ctr_group *g = &s->groups[i];
        if (strlen(g->name) == glen && memcmp(g->name, path, glen) == 0)
            return ctr_group_find(g, dot + 1, value);
    }
    return -ENOENT;
}

uint64_t ctr_set_get(const struct ctr_set *s, const char *path)
{
    uint64_t v;
    return ctr_set_find(s, path, &v) == 0 ? v : UINT64_MAX;
}

void ctr_set_print(FILE *f, const struct ctr_set *s, bool nonzero_only)
{
    for (unsigned i = 0; i < s->n; i++)
        ctr_group_print(f, &s->groups[i], nonzero_only);
}
