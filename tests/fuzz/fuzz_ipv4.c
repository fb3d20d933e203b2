/*
 * ipv4_parse and ipv4_parse_quoted on arbitrary datagrams. Accepted headers keep their
 * invariants, the quoted parser accepts whatever the strict one does with the same view, and
 * both round-trip through ipv4_emit (which writes no options).
 */
#include "fuzz_common.h"

#include "wire/checksum.h"
#include "wire/ipv4.h"

static void check_invariants(const uint8_t *data, size_t size, const struct ipv4_repr *r,
                             bool quoted)
{
    FUZZ_CHECK(r->hdr_len >= IPV4_HDR_LEN && r->hdr_len <= IPV4_MAX_HDR_LEN);
    FUZZ_CHECK(r->hdr_len % 4 == 0 && r->hdr_len <= size);
    FUZZ_CHECK(r->options_len == r->hdr_len - IPV4_HDR_LEN);
    FUZZ_CHECK(r->options == (r->options_len ? data + IPV4_HDR_LEN : NULL));
    FUZZ_CHECK(r->payload == data + r->hdr_len);
    FUZZ_CHECK(fuzz_within(data, size, r->payload, r->payload_len));
    FUZZ_CHECK(r->total_len >= r->hdr_len);
    size_t end = quoted && r->total_len > size ? size : r->total_len;
    FUZZ_CHECK((size_t)r->hdr_len + r->payload_len == end);
    FUZZ_CHECK(r->frag_off % 8 == 0);
}

static bool same_fields(const struct ipv4_repr *a, const struct ipv4_repr *b)
{
    return a->src == b->src && a->dst == b->dst && a->protocol == b->protocol &&
           a->ttl == b->ttl && a->tos == b->tos && a->df == b->df && a->mf == b->mf &&
           a->id == b->id && a->frag_off == b->frag_off && a->payload_len == b->payload_len;
}

static uint8_t out[IPV4_MAX_LEN];

static void round_trip(const struct ipv4_repr *a, bool quoted)
{
    FUZZ_CHECK(ipv4_emit(a, out, IPV4_HDR_LEN - 1) == 0);
    FUZZ_CHECK(ipv4_emit(a, out, sizeof out) == IPV4_HDR_LEN);
    memcpy(out + IPV4_HDR_LEN, a->payload, a->payload_len);
    size_t len = IPV4_HDR_LEN + (size_t)a->payload_len;
    FUZZ_CHECK(csum_fold(csum_partial(out, IPV4_HDR_LEN, 0)) == 0);
    struct ipv4_repr b;
    int err = quoted ? ipv4_parse_quoted(out, len, &b) : ipv4_parse(out, len, &b);
    FUZZ_CHECK(err == WIRE_OK);
    FUZZ_CHECK(same_fields(a, &b));
    FUZZ_CHECK(b.hdr_len == IPV4_HDR_LEN && b.total_len == len && b.options_len == 0);
    FUZZ_CHECK(memcmp(b.payload, a->payload, a->payload_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ipv4_repr a, q;
    int err = ipv4_parse(data, size, &a);
    int qerr = ipv4_parse_quoted(data, size, &q);
    FUZZ_CHECK(fuzz_is_wire_result(err) && fuzz_is_wire_result(qerr));
    if (err == WIRE_OK) {
        check_invariants(data, size, &a, false);
        FUZZ_CHECK(qerr == WIRE_OK && same_fields(&a, &q) && a.total_len == q.total_len);
        round_trip(&a, false);
    }
    if (qerr == WIRE_OK) {
        check_invariants(data, size, &q, true);
        round_trip(&q, true);
    }
    return 0;
}
