/* The parts of the link interface shared by every driver (see link.h). */
#include "link/link.h"

#include <stdio.h>

CTR_DESCRIBE(link_ctrs, LINK_COUNTERS)

void link_init(struct link *l, const struct link_ops *ops, const char *name)
{
    l->ops = ops;
    l->ctrs = (struct link_ctrs){ 0 };
    snprintf(l->name, sizeof(l->name), "%s", name ? name : "link");
}

void link_destroy(struct link *l)
{
    if (l)
        l->ops->destroy(l);
}

int link_tx_all_or_drop(struct link *l, struct pkt **pkts, unsigned n)
{
    int sent = link_tx_burst(l, pkts, n);
    if (sent < 0) {
        pkt_free_bulk(pkts, n);
        return sent;
    }
    if ((unsigned)sent < n) {
        l->ctrs.tx_busy += n - (unsigned)sent;
        pkt_free_bulk(pkts + sent, n - (unsigned)sent);
    }
    return sent;
}

struct ctr_group link_ctr_group(struct link *l)
{
    return CTR_GROUP(l->name, link_ctrs, &l->ctrs);
}

int link_add_counters(struct link *l, struct ctr_set *set)
{
    int err = ctr_set_add(set, link_ctr_group(l));
    if (!err && l->ops->add_counters)
        err = l->ops->add_counters(l, set);
    return err;
}
