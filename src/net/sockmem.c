/*
 * Socket memory of the whole stack (see sockmem.h).
 */
#include "net/sockmem.h"

#include "ustack/config.h"

CTR_DESCRIBE(sockmem_ctrs, SOCKMEM_COUNTERS)

void sockmem_init(struct sockmem *m, const struct ust_config *cfg, uint64_t pool_bytes)
{
    *m = (struct sockmem){ 0 };
    /* Automatic: three quarters of the pools, so that sockets at their limit still leave
     * buffers for ACKs, ARP, handshakes and reassembly. */
    m->ctrs.limit = cfg->mem_max ? cfg->mem_max : pool_bytes / 4 * 3;
    /* Automatic: two thirds of the limit (Linux's default tcp_mem[1] is 2/3 of tcp_mem[2]). */
    m->pressure = cfg->mem_pressure ? cfg->mem_pressure : m->ctrs.limit / 3 * 2;
    if (m->pressure > m->ctrs.limit)
        m->pressure = m->ctrs.limit;
}
