/*
 * Opening a link from its configuration string, and wrapping it in the middleware the
 * configuration asks for.
 *
 *   tap:IFNAME        a TAP device (created if it does not exist) in this network namespace;
 *                     ",vnet=0" without the virtio-net header (no offloads), ",tso=0" without
 *                     receiving super-frames
 *   afpacket:IFNAME   an AF_PACKET socket bound to an existing interface; ",vnet=0" without
 *                     the virtio-net header (no offloads, no super-frames received)
 *   afxdp:IFNAME[,queue=N][,zerocopy=0|1]
 *                     an AF_XDP socket on queue N (default 0) of an existing interface, the
 *                     stack's packet pool as its UMEM; zero-copy tried first unless zerocopy=0
 *                     (zerocopy=1: zero-copy or fail). Needs a build with libxdp and libbpf
 *   loop:NAME         one end of an in-process loop link; the second open of NAME gets the other
 *   shm:PATH,side=N[,mtu=N][,slots=N]
 *                     one side (0 or 1) of a shared-memory wire to another process (link/shm.h)
 *
 * With env->fault set the link is wrapped in a fault injector (see link/fault.h for the
 * syntax), and with env->pcap in a recorder; the recorder is outermost, so the capture shows
 * what the stack sent and what it received after any impairment.
 */
#ifndef UST_LINK_OPEN_H
#define UST_LINK_OPEN_H

#include <stdint.h>

#include "base/clock.h"
#include "base/pkt.h"
#include "link/link.h"

struct link_env {
    uint32_t mtu;                /* the MTU the stack wants; drivers size buffers for it */
    struct clk *clock;           /* the stack's clock, for middleware that timestamps or delays */
    struct pkt_pool *pool;       /* receive buffers come from here */
    struct pkt_pool *big_pool;   /* 64 KiB buffers for received super-frames (optional) */
    const char *pcap;            /* record to this file if non-empty */
    const char *fault;           /* impair with this specification if non-empty */
};

/* Opens the link `spec` describes. Returns 0, -EINVAL (malformed spec, with a log line saying
 * why), -ENODEV (no such interface), or the driver's error. */
int link_open(const char *spec, const struct link_env *env, struct link **out);

#endif
