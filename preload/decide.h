/*
 * Which AF_INET sockets go to ustack: the shim's routing decision, a pure function of the
 * stack's networks and the address the program names (unit-tested in tests/preload).
 *
 * A socket is decided when the program first names an address (OpenOnload's choice): bind,
 * connect, sendto/sendmsg with a destination, or listen on an unbound socket. Until then it is
 * "pending": a kernel socket that collects the program's options, ready to be replaced by a
 * ustack socket under the same descriptor number.
 *
 *   connect / sendto to D:   D on one of ustack's networks (or one of its addresses) -> ustack;
 *                            D loopback (127/8), 0.0.0.0, multicast or broadcast   -> kernel;
 *                            anything else -> ustack if the stack has a gateway, else kernel.
 *   bind to A:               A one of ustack's addresses -> ustack; A any other specific
 *                            address -> kernel; INADDR_ANY with port 0 -> still pending (a
 *                            client binding before connect); INADDR_ANY with a port, and listen
 *                            on an unbound socket -> the bind_any policy (UST_BIND_ANY: ustack
 *                            by default, the reason a server is run under ustack; "kernel"
 *                            keeps wildcard listeners on the kernel).
 * Linux would let a wildcard listener accept on every interface; one descriptor cannot listen
 * on both stacks here, so the policy picks one, and says so in the log.
 */
#ifndef UST_PRELOAD_DECIDE_H
#define UST_PRELOAD_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#define PL_MAX_NETS 4

struct pl_net {
    uint32_t addr;               /* host order */
    uint32_t mask;               /* host order */
};

struct pl_policy {
    struct pl_net nets[PL_MAX_NETS];
    unsigned n_nets;
    uint32_t gateway;            /* host order, 0: none */
    bool bind_any_kernel;        /* UST_BIND_ANY=kernel */
};

enum pl_verdict {
    PL_KERNEL,
    PL_USTACK,
    PL_UNDECIDED,                /* stay pending */
};

/* Each returns the verdict and stores a short reason for the log in *why. */
enum pl_verdict pl_decide_connect(const struct pl_policy *p, uint32_t dst, const char **why);
enum pl_verdict pl_decide_bind(const struct pl_policy *p, uint32_t addr, uint16_t port,
                               const char **why);
/* listen() on a socket that was never bound (or bound to INADDR_ANY port 0). */
enum pl_verdict pl_decide_listen(const struct pl_policy *p, const char **why);

/* Parses UST_BIND_ANY ("ustack" or "kernel"; NULL or "" keep the default). 0 or -EINVAL. */
int pl_parse_bind_any(const char *text, bool *kernel);

#endif
