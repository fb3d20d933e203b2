/*
 * Capture middleware (see pcap.h).
 *
 * Entry points: link_pcap_create(), link_pcap_flush(), then the link vtable.
 *
 * Transmit stages each frame's bytes (cut at the snap length) in a buffer allocated at creation,
 * sub-burst by sub-burst: as many frames as fit go down together, the records of those the inner
 * link accepted are written from the copies, and a short answer ends the call (the caller keeps
 * the rest, exactly as if there were no capture).
 *
 * OWNERSHIP: frames are only borrowed while the middleware looks at them.
 */
#include "link/pcap.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "link/pcap_file.h"

CTR_DESCRIBE(pcap_ctrs, PCAP_COUNTERS)

/* Staging for one transmit sub-burst; the buffer holds at least one snap-length frame. */
#define PCAP_STAGE_FRAMES 64u
#define PCAP_STAGE_BYTES (256u * 1024u)

_Static_assert(PCAP_STAGE_BYTES >= PCAP_DEFAULT_SNAPLEN, "one frame always fits the stage");

struct pcap_staged {
    uint32_t off;              /* where its bytes start in stage */
    uint32_t caplen;           /* bytes copied */
    uint32_t len;              /* the frame's real length */
};

struct pcap_link {
    struct link link;
    struct link *inner;
    struct clk *clock;
    struct pcap_file file;
    struct pcap_ctrs ctrs;
    char ctr_name[48];
    struct pcap_staged staged[PCAP_STAGE_FRAMES];
    uint8_t *stage;            /* PCAP_STAGE_BYTES */
};

static const struct link_ops pcap_ops;

static struct pcap_link *pcap_of(struct link *l)
{
    return (struct pcap_link *)((char *)l - offsetof(struct pcap_link, link));
}

static void record(struct pcap_link *c, uint64_t now, const void *bytes, uint32_t len)
{
    /* pcap_file_write reads no more than the snap length of `bytes`, and records len as the
     * original length. */
    if (pcap_file_write(&c->file, now, bytes, len) == 0)
        c->ctrs.records++;
    else
        c->ctrs.write_errors++;
}

static int pcap_rx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct pcap_link *c = pcap_of(l);
    int got = link_rx_burst(c->inner, pkts, n);
    if (got <= 0)
        return got;
    uint64_t now = clk_now(c->clock);
    for (int i = 0; i < got; i++) {
        record(c, now, pkts[i]->data, pkts[i]->len);
        l->ctrs.rx_bytes += pkts[i]->len;
    }
    l->ctrs.rx_frames += (unsigned)got;
    return got;
}

/* Copies the first frames of pkts[0..n) into the stage, as many as fit; returns how many. */
static unsigned stage_frames(struct pcap_link *c, struct pkt **pkts, unsigned n)
{
    uint32_t used = 0;
    unsigned k = 0;
    while (k < n && k < PCAP_STAGE_FRAMES) {
        const struct pkt *p = pkts[k];
        uint32_t len = pkt_frame_len(p);
        uint32_t cap = len < c->file.snaplen ? len : c->file.snaplen;
        if (cap > PCAP_STAGE_BYTES - used)
            break;
        c->staged[k] = (struct pcap_staged){ .off = used, .caplen = cap, .len = len };
        pkt_frame_copy(p, c->stage + used, cap);
        used += cap;
        k++;
    }
    return k;
}

static int pcap_tx_burst(struct link *l, struct pkt **pkts, unsigned n)
{
    struct pcap_link *c = pcap_of(l);
    if (n == 0)
        return link_tx_burst(c->inner, pkts, 0);
    uint64_t now = clk_now(c->clock);
    unsigned done = 0;
    while (done < n) {
        unsigned m = stage_frames(c, pkts + done, n - done);
        int sent = link_tx_burst(c->inner, pkts + done, m);
        if (sent < 0)
            return done ? (int)done : sent;
        for (int i = 0; i < sent; i++) {
            const struct pcap_staged *s = &c->staged[i];
            record(c, now, c->stage + s->off, s->len);
            l->ctrs.tx_bytes += s->len;
        }
        l->ctrs.tx_frames += (unsigned)sent;
        done += (unsigned)sent;
        if ((unsigned)sent < m)
            break;
    }
    return (int)done;
}

static int pcap_wait_fd(struct link *l)
{
    return link_wait_fd(pcap_of(l)->inner);
}

static uint64_t pcap_next_event_ns(struct link *l)
{
    return link_next_event_ns(pcap_of(l)->inner);
}

static void pcap_destroy(struct link *l)
{
    struct pcap_link *c = pcap_of(l);
    int err = pcap_file_close(&c->file);
    if (err)
        ust_log(UST_LOG_WARN, "pcap %s: capture file incomplete (error %d)", l->name, -err);
    link_destroy(c->inner);
    free(c->stage);
    free(c);
}

static int pcap_add_counters(struct link *l, struct ctr_set *set)
{
    int err = ctr_set_add(set, link_pcap_ctr_group(l));
    return err ? err : link_add_counters(pcap_of(l)->inner, set);
}

static const struct link_ops pcap_ops = {
    .rx_burst = pcap_rx_burst,
    .tx_burst = pcap_tx_burst,
    .wait_fd = pcap_wait_fd,
    .next_event_ns = pcap_next_event_ns,
    .destroy = pcap_destroy,
    .add_counters = pcap_add_counters,
};

int link_pcap_create(struct link *inner, const char *path, struct clk *clock, struct link **out)
{
    if (!inner || !path || !clock || !out)
        return -EINVAL;
    struct pcap_link *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->stage = malloc(PCAP_STAGE_BYTES);
    if (!c->stage) {
        free(c);
        return -ENOMEM;
    }
    int err = pcap_file_open(&c->file, path, PCAP_DEFAULT_SNAPLEN);
    if (err) {
        free(c->stage);
        free(c);
        return err;
    }
    char name[sizeof(c->link.name)];
    snprintf(name, sizeof(name), "%.26s+pcap", inner->name);
    link_init(&c->link, &pcap_ops, name);
    c->link.caps = inner->caps;
    c->inner = inner;
    c->clock = clock;
    snprintf(c->ctr_name, sizeof(c->ctr_name), "%s.pcap", c->link.name);
    *out = &c->link;
    return 0;
}

int link_pcap_flush(struct link *l)
{
    assert(l->ops == &pcap_ops);
    struct pcap_link *c = pcap_of(l);
    if (!c->file.f)
        return -EBADF;
    if (c->file.error)
        return -c->file.error;     /* already counted, frame by frame */
    if (fflush(c->file.f) != 0) {
        int err = errno ? errno : EIO;
        c->ctrs.write_errors++;
        return -err;
    }
    return 0;
}

const struct pcap_ctrs *link_pcap_counters(struct link *l)
{
    assert(l->ops == &pcap_ops);
    return &pcap_of(l)->ctrs;
}

struct ctr_group link_pcap_ctr_group(struct link *l)
{
    assert(l->ops == &pcap_ops);
    struct pcap_link *c = pcap_of(l);
    return CTR_GROUP(c->ctr_name, pcap_ctrs, &c->ctrs);
}
