/*
 * The runtime option table (include/ustack/config.h): defaults, parsing with range checks, the
 * environment reader and the help text, all generated from UST_CONFIG_OPTIONS.
 */
#include "ustack/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_U32, OPT_BOOL };

struct opt_desc {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *def_str;
    uint64_t def_num;
    uint64_t min;
    uint64_t max;
    const char *doc;
};

#define OPT_DEF_STR_STR(def) def
#define OPT_DEF_STR_U32(def) NULL
#define OPT_DEF_STR_BOOL(def) NULL
#define OPT_DEF_NUM_STR(def) 0
#define OPT_DEF_NUM_U32(def) (def)
#define OPT_DEF_NUM_BOOL(def) (def)

#define OPT_DESC_(name, type, def, min, max, doc)                                   \
    { #name, OPT_##type, offsetof(struct ust_config, name), OPT_DEF_STR_##type(def), \
      OPT_DEF_NUM_##type(def), (min), (max), (doc) },

static const struct opt_desc options[] = { UST_CONFIG_OPTIONS(OPT_DESC_) };

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static const struct opt_desc *find_option(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static void set_default(struct ust_config *c, const struct opt_desc *o)
{
    void *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR:
        snprintf(field, UST_CONFIG_STR_MAX, "%s", o->def_str);
        break;
    case OPT_U32:
        *(uint32_t *)field = (uint32_t)o->def_num;
        break;
    case OPT_BOOL:
        *(int *)field = (int)o->def_num;
        break;
    }
}

void ust_config_defaults(struct ust_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < N_OPTIONS; i++)
        set_default(c, &options[i]);
}

/* Parses a decimal number with an optional k, m or g suffix (powers of 1024). */
static int parse_number(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -ERANGE;
    unsigned shift = 0;
    switch (tolower((unsigned char)*end)) {
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    default: break;
    }
    if (*end)
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "1", "yes", "on", "true" };
    static const char *const no[] = { "0", "no", "off", "false" };
    for (unsigned i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -EINVAL;
}

int ust_config_set(struct ust_config *c, const char *name, const char *value)
{
    const struct opt_desc *o = find_option(name);
    if (!o)
        return -ENOENT;
    void *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR:
        if (strlen(value) >= UST_CONFIG_STR_MAX)
            return -ERANGE;
        snprintf(field, UST_CONFIG_STR_MAX, "%s", value);
        return 0;
    case OPT_U32: {
        uint64_t v;
        int err = parse_number(value, &v);
        if (err)
            return err;
        if (v < o->min || v > o->max)
            return -ERANGE;
        *(uint32_t *)field = (uint32_t)v;
        return 0;
    }
    case OPT_BOOL:
        return parse_bool(value, field);
    }
    return -EINVAL;
}

static void env_name(char *buf, size_t cap, const char *name)
{
    size_t n = (size_t)snprintf(buf, cap, "UST_%s", name);
    for (size_t i = 4; i < n && i < cap; i++)
        buf[i] = (char)toupper((unsigned char)buf[i]);
}

int ust_config_from_env(struct ust_config *c, char *err, size_t err_len)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char var[64];
        env_name(var, sizeof(var), options[i].name);
        const char *v = getenv(var);
        if (!v)
            continue;
        int rc = ust_config_set(c, options[i].name, v);
        if (rc) {
            if (err_len)
                snprintf(err, err_len, "%s=%s: %s", var, v,
                         rc == -ERANGE ? "out of range" : "not a valid value");
            return rc;
        }
    }
    return 0;
}

static const char *type_name(enum opt_type t)
{
    return t == OPT_STR ? "string" : t == OPT_U32 ? "number" : "bool";
}

void ust_config_help(FILE *f)
{
    fprintf(f, "Options (ustack run --NAME=VALUE, or the environment variable shown):\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct opt_desc *o = &options[i];
        char var[64];
        env_name(var, sizeof(var), o->name);
        fprintf(f, "  %-18s %-22s %s\n", o->name, var, o->doc);
        if (o->type == OPT_STR)
            fprintf(f, "  %-18s %-22s %s, default \"%s\"\n", "", "", type_name(o->type),
                    o->def_str);
        else
            fprintf(f, "  %-18s %-22s %s, default %llu, range %llu..%llu\n", "", "",
                    type_name(o->type), (unsigned long long)o->def_num,
                    (unsigned long long)o->min, (unsigned long long)o->max);
    }
}
