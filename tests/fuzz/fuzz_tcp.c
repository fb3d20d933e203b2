/*
 * tcp_parse on arbitrary segments. Accepted ones keep their invariants; when their options fit
 * Linux's layout in 40 bytes they round-trip through tcp_emit, and emitting the result again
 * gives the same bytes. A checksum set by tcp_set_checksum verifies.
 */
#include "fuzz_common.h"

#include "wire/checksum.h"
#include "wire/tcp.h"

static bool same_options(const struct tcp_options *a, const struct tcp_options *b)
{
    if (a->present != b->present)
        return false;
    if ((a->present & TCP_HAS_MSS) && a->mss != b->mss)
        return false;
    if ((a->present & TCP_HAS_WSCALE) && a->wscale != b->wscale)
        return false;
    if ((a->present & TCP_HAS_TIMESTAMP) && (a->ts_val != b->ts_val || a->ts_ecr != b->ts_ecr))
        return false;
    if (a->present & TCP_HAS_SACK) {
        if (a->sack_count != b->sack_count)
            return false;
        for (unsigned i = 0; i < a->sack_count; i++)
            if (a->sack[i].start != b->sack[i].start || a->sack[i].end != b->sack[i].end)
                return false;
    }
    return true;
}

static bool same_segment(const struct tcp_repr *a, const struct tcp_repr *b)
{
    return a->sport == b->sport && a->dport == b->dport && a->seq == b->seq &&
           a->ack == b->ack && a->flags == b->flags && a->window == b->window &&
           a->urgent == b->urgent && same_options(&a->opt, &b->opt);
}

/* The option bytes Linux's layout needs, counted here independently of tcp.c. */
static size_t layout_len(const struct tcp_options *o)
{
    size_t n = 0;
    n += (o->present & TCP_HAS_MSS) ? 4 : 0;
    n += (o->present & TCP_HAS_TIMESTAMP) ? 12 : (o->present & TCP_HAS_SACK_PERM) ? 4 : 0;
    n += (o->present & TCP_HAS_WSCALE) ? 4 : 0;
    n += (o->present & TCP_HAS_SACK) ? 4 + 8 * (size_t)o->sack_count : 0;
    return n;
}

static void check_invariants(const uint8_t *data, size_t size, const struct tcp_repr *a)
{
    FUZZ_CHECK(a->hdr_len >= TCP_HDR_LEN && a->hdr_len <= TCP_MAX_HDR_LEN);
    FUZZ_CHECK(a->hdr_len % 4 == 0 && a->hdr_len <= size);
    FUZZ_CHECK(a->payload == data + a->hdr_len && a->payload_len == size - a->hdr_len);
    FUZZ_CHECK(a->flags < 0x200);
    bool has_sack = (a->opt.present & TCP_HAS_SACK) != 0;
    FUZZ_CHECK(!has_sack || (a->opt.sack_count >= 1 && a->opt.sack_count <= TCP_MAX_SACK_BLOCKS));
    FUZZ_CHECK(memcmp(&a->checksum, data + 16, 2) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tcp_repr a;
    int err = tcp_parse(data, size, &a);
    FUZZ_CHECK(fuzz_is_wire_result(err));
    (void)tcp_checksum_ok(data, size, size);        /* must not read out of bounds */
    if (err)
        return 0;
    check_invariants(data, size, &a);

    size_t hdr_len = tcp_header_len(&a);
    if (hdr_len == 0) {
        FUZZ_CHECK(layout_len(&a.opt) > TCP_MAX_OPT_LEN);
        return 0;
    }
    FUZZ_CHECK(hdr_len == TCP_HDR_LEN + layout_len(&a.opt));
    uint8_t out[TCP_MAX_HDR_LEN], again[TCP_MAX_HDR_LEN];
    FUZZ_CHECK(tcp_emit(&a, out, hdr_len - 1) == 0);
    FUZZ_CHECK(tcp_emit(&a, out, sizeof out) == hdr_len);
    struct tcp_repr b;
    FUZZ_CHECK(tcp_parse(out, hdr_len, &b) == WIRE_OK);
    FUZZ_CHECK(same_segment(&a, &b) && b.hdr_len == hdr_len && b.payload_len == 0);
    FUZZ_CHECK(tcp_emit(&b, again, sizeof again) == hdr_len);
    FUZZ_CHECK(memcmp(out, again, hdr_len) == 0);
    uint32_t pseudo = csum_ipv4_pseudo(a.seq, a.ack, 6, (uint16_t)hdr_len);
    tcp_set_checksum(out, hdr_len, pseudo);
    FUZZ_CHECK(tcp_checksum_ok(out, hdr_len, pseudo));
    return 0;
}
