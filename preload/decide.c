/*
 * The routing decision (decide.h).
 */
#include "decide.h"

#include <errno.h>
#include <string.h>

static bool is_ours(const struct pl_policy *p, uint32_t a)
{
    for (unsigned i = 0; i < p->n_nets; i++)
        if (p->nets[i].addr == a)
            return true;
    return false;
}

static bool on_link(const struct pl_policy *p, uint32_t a)
{
    for (unsigned i = 0; i < p->n_nets; i++)
        if ((a & p->nets[i].mask) == (p->nets[i].addr & p->nets[i].mask))
            return true;
    return false;
}

enum pl_verdict pl_decide_connect(const struct pl_policy *p, uint32_t dst, const char **why)
{
    if (dst == 0) {
        *why = "destination 0.0.0.0 means this host (the kernel's loopback)";
        return PL_KERNEL;
    }
    if ((dst >> 24) == 127) {
        *why = "loopback destination";
        return PL_KERNEL;
    }
    if ((dst >> 28) == 0xe || dst == 0xffffffffu) {
        *why = "multicast or broadcast destination";
        return PL_KERNEL;
    }
    if (is_ours(p, dst)) {
        *why = "destination is ustack's own address";
        return PL_USTACK;
    }
    if (on_link(p, dst)) {
        *why = "destination on ustack's network";
        return PL_USTACK;
    }
    if (p->gateway) {
        *why = "destination reached through ustack's gateway";
        return PL_USTACK;
    }
    *why = "destination not on ustack's networks and no gateway";
    return PL_KERNEL;
}

enum pl_verdict pl_decide_bind(const struct pl_policy *p, uint32_t addr, uint16_t port,
                               const char **why)
{
    if (addr == 0) {
        if (port == 0) {
            *why = "bound to 0.0.0.0:0: decided at connect or listen";
            return PL_UNDECIDED;
        }
        *why = p->bind_any_kernel ? "wildcard bind, UST_BIND_ANY=kernel"
                                  : "wildcard bind, UST_BIND_ANY=ustack (the default)";
        return p->bind_any_kernel ? PL_KERNEL : PL_USTACK;
    }
    if (is_ours(p, addr)) {
        *why = "bound to ustack's address";
        return PL_USTACK;
    }
    *why = "bound to an address that is not ustack's";
    return PL_KERNEL;
}

enum pl_verdict pl_decide_listen(const struct pl_policy *p, const char **why)
{
    *why = p->bind_any_kernel ? "listen on a wildcard address, UST_BIND_ANY=kernel"
                              : "listen on a wildcard address, UST_BIND_ANY=ustack";
    return p->bind_any_kernel ? PL_KERNEL : PL_USTACK;
}

int pl_parse_bind_any(const char *text, bool *kernel)
{
    if (!text || !*text)
        return 0;
    if (strcmp(text, "ustack") == 0) {
        *kernel = false;
        return 0;
    }
    if (strcmp(text, "kernel") == 0) {
        *kernel = true;
        return 0;
    }
    return -EINVAL;
}
