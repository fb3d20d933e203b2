/*
 * Opening links from configuration strings, and wrapping them in middleware (see open.h).
 */
#include "link/open.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "link/afpacket.h"
#include "link/afxdp.h"
#include "link/fault.h"
#include "link/loop.h"
#include "link/pcap.h"
#include "link/shm.h"
#include "link/tap.h"

/* ---- Named loop links: the second open of a name gets the other end of the first's pair ---- */

#define LOOP_NAMES_MAX 16

struct loop_name {
    char name[32];
    struct link *waiting;        /* the end nobody has claimed yet */
};

static pthread_mutex_t loop_names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loop_name loop_names[LOOP_NAMES_MAX];

static int open_loop(const char *name, const struct link_env *env, struct link **out)
{
    if (!*name || strlen(name) >= sizeof(loop_names[0].name)) {
        ust_log(UST_LOG_ERROR, "loop link needs a name of 1 to 31 characters: loop:NAME");
        return -EINVAL;
    }
    int err = 0;
    pthread_mutex_lock(&loop_names_lock);
    struct loop_name *free_slot = NULL;
    for (unsigned i = 0; i < LOOP_NAMES_MAX; i++) {
        struct loop_name *n = &loop_names[i];
        if (n->waiting && strcmp(n->name, name) == 0) {
            *out = n->waiting;
            n->waiting = NULL;
            goto done;
        }
        if (!n->waiting && !free_slot)
            free_slot = n;
    }
    if (!free_slot) {
        err = -ENOSPC;
        goto done;
    }
    char a[40], b[40];
    snprintf(a, sizeof(a), "loop:%s.a", name);
    snprintf(b, sizeof(b), "loop:%s.b", name);
    struct link_loop_config cfg = { .mtu = env->mtu, .name_a = a, .name_b = b };
    err = link_loop_pair(&cfg, out, &free_slot->waiting);
    if (!err)
        snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
done:
    pthread_mutex_unlock(&loop_names_lock);
    return err;
}

/* ---- Drivers by prefix ---- */

static int open_driver(const char *spec, const struct link_env *env, struct link **out)
{
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec) {
        ust_log(UST_LOG_ERROR, "link \"%s\": expected tap:IFNAME, afpacket:IFNAME, "
                "afxdp:IFNAME, loop:NAME or shm:PATH,side=N", spec);
        return -EINVAL;
    }
    size_t kind = (size_t)(colon - spec);
    const char *arg = colon + 1;
    if (kind == 3 && strncmp(spec, "tap", 3) == 0)
        return link_tap_open(arg, env, out);
    if (kind == 8 && strncmp(spec, "afpacket", 8) == 0)
        return link_afpacket_open(arg, env, out);
    if (kind == 5 && strncmp(spec, "afxdp", 5) == 0)
        return link_afxdp_open(arg, env, out);
    if (kind == 4 && strncmp(spec, "loop", 4) == 0)
        return open_loop(arg, env, out);
    if (kind == 3 && strncmp(spec, "shm", 3) == 0)
        return link_shm_open_spec(arg, env, out);
    ust_log(UST_LOG_ERROR, "link \"%s\": unknown kind (tap, afpacket, afxdp, loop, shm)", spec);
    return -EINVAL;
}

static int wrap_fault(const struct link_env *env, struct link **l)
{
    struct fault_config fc;
    int err = fault_config_parse(env->fault, &fc);
    if (err)
        return err;
    struct link *wrapped;
    err = link_fault_create(*l, &fc, env->clock, env->pool, &wrapped);
    if (err) {
        ust_log(UST_LOG_ERROR, "fault \"%s\": %s", env->fault, strerror(-err));
        return err;
    }
    *l = wrapped;
    return 0;
}

static int wrap_pcap(const struct link_env *env, struct link **l)
{
    struct link *wrapped;
    int err = link_pcap_create(*l, env->pcap, env->clock, &wrapped);
    if (err) {
        ust_log(UST_LOG_ERROR, "pcap \"%s\": %s", env->pcap, strerror(-err));
        return err;
    }
    *l = wrapped;
    return 0;
}

int link_open(const char *spec, const struct link_env *env, struct link **out)
{
    if (!spec || !*spec) {
        ust_log(UST_LOG_ERROR, "no link configured (UST_LINK=tap:IFNAME, afpacket:IFNAME, ...)");
        return -EINVAL;
    }
    struct link *l = NULL;
    int err = open_driver(spec, env, &l);
    if (err)
        return err;
    if (env->fault && *env->fault && (err = wrap_fault(env, &l)) != 0)
        goto fail;
    if (env->pcap && *env->pcap && (err = wrap_pcap(env, &l)) != 0)
        goto fail;
    *out = l;
    return 0;
fail:
    link_destroy(l);
    return err;
}
