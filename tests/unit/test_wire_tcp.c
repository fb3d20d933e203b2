/*
 * TCP headers and options: Linux's SYN and SYN-ACK, data with timestamps and SACK blocks, a full
 * 40-byte option space, RST; truncation at every length; data offset below 5 or past the end;
 * every malformed-option case (length 0 or 1, past the header, no length byte, wrong size for a
 * known kind); unknown options, EOL, repeats; Linux's emitted layout byte for byte; round trips
 * over every option combination and flag; checksums.
 */
#include "testutil.h"

#include <netinet/in.h>
#include <string.h>

#include "test_wire_samples.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

#define IP_A 0xc6120001u       /* 198.18.0.1 */
#define IP_B 0xc6120002u       /* 198.18.0.2 */

static size_t tcp_copy(enum wire_sample_id id, uint8_t *buf, size_t cap)
{
    const struct wire_sample *s = &wire_samples[id];
    assert_true(s->l4_len <= cap);
    memcpy(buf, s->frame + s->l4_off, s->l4_len);
    return s->l4_len;
}

static uint32_t pseudo_for(enum wire_sample_id id, size_t len)
{
    const struct wire_sample *s = &wire_samples[id];
    const uint8_t *ip = s->frame + s->l3_off;
    return csum_ipv4_pseudo(wire_get32(ip + 12), wire_get32(ip + 16), IPPROTO_TCP,
                            (uint16_t)len);
}

/* The tcp_syn segment with its options replaced by opts[0..n), n a multiple of 4. */
static size_t syn_with_options(const uint8_t *opts, size_t n, uint8_t *out)
{
    const struct wire_sample *s = &wire_samples[SAMPLE_tcp_syn];
    memcpy(out, s->frame + s->l4_off, TCP_HDR_LEN);
    memcpy(out + TCP_HDR_LEN, opts, n);
    out[12] = (uint8_t)((TCP_HDR_LEN + n) / 4 << 4);
    return TCP_HDR_LEN + n;
}

static int parse_with_options(const uint8_t *opts, size_t n, struct tcp_repr *r)
{
    uint8_t seg[TCP_MAX_HDR_LEN];
    assert_true(n % 4 == 0 && n <= TCP_MAX_OPT_LEN);
    size_t len = syn_with_options(opts, n, seg);
    return tcp_parse(seg, len, r);
}

#define OPTS(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static void expect_options(const uint8_t *opts, size_t n, int want)
{
    struct tcp_repr r;
    int got = parse_with_options(opts, n, &r);
    if (got != want)
        fail_msg("options starting %02x %02x %02x %02x: got %s, want %s", opts[0], opts[1],
                 opts[2], opts[3], wire_strerror(got), wire_strerror(want));
}

static void assert_options_equal(const struct tcp_options *a, const struct tcp_options *b)
{
    assert_int_equal(a->present, b->present);
    if (a->present & TCP_HAS_MSS)
        assert_int_equal(a->mss, b->mss);
    if (a->present & TCP_HAS_WSCALE)
        assert_int_equal(a->wscale, b->wscale);
    if (a->present & TCP_HAS_TIMESTAMP) {
        assert_int_equal(a->ts_val, b->ts_val);
        assert_int_equal(a->ts_ecr, b->ts_ecr);
    }
    if (a->present & TCP_HAS_SACK) {
        assert_int_equal(a->sack_count, b->sack_count);
        for (unsigned i = 0; i < a->sack_count; i++) {
            assert_int_equal(a->sack[i].start, b->sack[i].start);
            assert_int_equal(a->sack[i].end, b->sack[i].end);
        }
    }
}

static void assert_repr_equal(const struct tcp_repr *a, const struct tcp_repr *b)
{
    assert_int_equal(a->sport, b->sport);
    assert_int_equal(a->dport, b->dport);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->ack, b->ack);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->window, b->window);
    assert_int_equal(a->urgent, b->urgent);
    assert_options_equal(&a->opt, &b->opt);
}

/* ---- Parsing real segments ---- */

static void test_tcp_parse_linux_syn_with_all_options(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_syn, seg, sizeof seg);
    struct tcp_repr r;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(r.sport, 45678);
    assert_int_equal(r.dport, 80);
    assert_int_equal(r.seq, 0x9a3c5e01u);
    assert_int_equal(r.ack, 0);
    assert_int_equal(r.flags, TCP_SYN);
    assert_int_equal(r.window, 64240);
    assert_int_equal(r.urgent, 0);
    assert_int_equal(r.hdr_len, 40);
    assert_int_equal(r.payload_len, 0);
    assert_ptr_equal(r.payload, seg + 40);
    assert_memory_equal(&r.checksum, seg + 16, 2);
    /* mss 1460,sackOK,TS val 2890466112 ecr 0,nop,wscale 7 */
    assert_int_equal(r.opt.present,
                     TCP_HAS_MSS | TCP_HAS_SACK_PERM | TCP_HAS_TIMESTAMP | TCP_HAS_WSCALE);
    assert_int_equal(r.opt.mss, 1460);
    assert_int_equal(r.opt.ts_val, 2890466112u);
    assert_int_equal(r.opt.ts_ecr, 0);
    assert_int_equal(r.opt.wscale, 7);
}

static void test_tcp_parse_linux_synack(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_synack, seg, sizeof seg);
    struct tcp_repr r;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(r.flags, TCP_SYN | TCP_ACK);
    assert_int_equal(r.ack, 0x9a3c5e02u);
    assert_int_equal(r.window, 65160);
    assert_int_equal(r.opt.ts_val, 1234567890u);
    assert_int_equal(r.opt.ts_ecr, 2890466112u);
}

static void test_tcp_parse_data_segment_with_timestamps_and_sack_blocks(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_data_sack, seg, sizeof seg);
    struct tcp_repr r;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(r.flags, TCP_PSH | TCP_ACK);
    assert_int_equal(r.hdr_len, 52);                /* nop,nop,TS,nop,nop,sack 2 blocks */
    assert_int_equal(r.opt.present, TCP_HAS_TIMESTAMP | TCP_HAS_SACK);
    assert_int_equal(r.opt.ts_val, 2890466190u);
    assert_int_equal(r.opt.ts_ecr, 1234567950u);
    assert_int_equal(r.opt.sack_count, 2);
    assert_int_equal(r.opt.sack[0].start, 0x1f2e4a10u);
    assert_int_equal(r.opt.sack[0].end, 0x1f2e4fc0u);
    assert_int_equal(r.opt.sack[1].start, 0x1f2e5570u);
    assert_int_equal(r.opt.sack[1].end, 0x1f2e5b20u);
    assert_int_equal(r.payload_len, 36);
    assert_memory_equal(r.payload, "GET / HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n", 36);
}

static void test_tcp_parse_three_sack_blocks_filling_the_option_space(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_ack_sack3, seg, sizeof seg);
    struct tcp_repr r;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(r.hdr_len, TCP_MAX_HDR_LEN);
    assert_int_equal(r.opt.sack_count, 3);
    assert_int_equal(r.opt.sack[0].start, 0x1f2e6000u);
    assert_int_equal(r.opt.sack[2].end, 0x1f2e5b20u);
    assert_int_equal(r.payload_len, 0);
}

static void test_tcp_parse_rst_without_options(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_rst, seg, sizeof seg);
    struct tcp_repr r;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(r.flags, TCP_RST | TCP_ACK);
    assert_int_equal(r.opt.present, 0);
    assert_int_equal(r.window, 0);
    assert_int_equal(r.hdr_len, TCP_HDR_LEN);
    assert_int_equal(r.payload_len, 0);
}

/* ---- Header lengths ---- */

static void test_tcp_truncated_header_at_every_length(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_syn, seg, sizeof seg);
    struct tcp_repr r;
    /* Short of the fixed header, then short of the options the data offset announces. */
    for (size_t n = 0; n < len; n++)
        assert_int_equal(tcp_parse(seg, n, &r), WIRE_ETRUNC);
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
}

static void test_tcp_data_offset_below_five_is_rejected(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_syn, seg, sizeof seg);
    struct tcp_repr r;
    for (uint8_t doff = 0; doff < 5; doff++) {
        seg[12] = (uint8_t)(doff << 4);
        assert_int_equal(tcp_parse(seg, len, &r), WIRE_EHDRLEN);
    }
}

static void test_tcp_data_offset_past_the_end_is_truncated(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_rst, seg, sizeof seg);
    struct tcp_repr r;
    for (uint8_t doff = 6; doff < 16; doff++) {
        seg[12] = (uint8_t)(doff << 4);
        assert_int_equal(tcp_parse(seg, len, &r), WIRE_ETRUNC);
    }
}

/* ---- Malformed and unusual options ---- */

static void test_tcp_option_length_zero_is_rejected(void **state)
{
    (void)state;
    expect_options(OPTS(0x22, 0, 1, 1), WIRE_EOPT);            /* unknown kind */
    expect_options(OPTS(TCP_OPT_MSS, 0, 0, 0), WIRE_EOPT);     /* known kind */
    expect_options(OPTS(2, 4, 5, 0xb4, 0x22, 0, 0, 0), WIRE_EOPT);
}

static void test_tcp_option_length_one_is_rejected(void **state)
{
    (void)state;
    expect_options(OPTS(0x22, 1, 1, 1), WIRE_EOPT);
    expect_options(OPTS(1, 1, TCP_OPT_SACK_PERM, 1), WIRE_EOPT);
}

static void test_tcp_option_overflowing_header_is_rejected(void **state)
{
    (void)state;
    expect_options(OPTS(1, 1, 8, 10, 0, 0, 0, 0), WIRE_EOPT);  /* timestamps cut by 2 */
    expect_options(OPTS(0xfe, 9, 0, 0, 0, 0, 0, 0), WIRE_EOPT);
    expect_options(OPTS(1, 1, 1, 0xfe, 255, 0, 0, 0), WIRE_EOPT);
}

static void test_tcp_option_kind_without_length_byte_is_rejected(void **state)
{
    (void)state;
    expect_options(OPTS(1, 1, 1, TCP_OPT_MSS), WIRE_EOPT);
    expect_options(OPTS(1, 1, 1, 0xfe), WIRE_EOPT);
}

static void test_tcp_known_option_with_wrong_length_is_rejected(void **state)
{
    (void)state;
    expect_options(OPTS(2, 3, 5, 1), WIRE_EOPT);                       /* MSS, 3 */
    expect_options(OPTS(2, 5, 5, 0xb4, 0, 1, 1, 1), WIRE_EOPT);        /* MSS, 5 */
    expect_options(OPTS(3, 2, 1, 1), WIRE_EOPT);                       /* window scale, 2 */
    expect_options(OPTS(3, 4, 7, 0), WIRE_EOPT);                       /* window scale, 4 */
    expect_options(OPTS(4, 3, 0, 1), WIRE_EOPT);                       /* SACK-permitted, 3 */
    expect_options(OPTS(4, 4, 0, 0), WIRE_EOPT);                       /* SACK-permitted, 4 */
    expect_options(OPTS(8, 8, 0, 0, 0, 0, 0, 0), WIRE_EOPT);           /* timestamps, 8 */
    expect_options(OPTS(8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), WIRE_EOPT);
    expect_options(OPTS(5, 2, 1, 1), WIRE_EOPT);                       /* SACK, no block */
    expect_options(OPTS(5, 9, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1), WIRE_EOPT);
    expect_options(OPTS(5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), WIRE_EOPT);
}

static void test_tcp_unknown_options_are_skipped_by_length(void **state)
{
    (void)state;
    struct tcp_repr r;
    /* An experimental option (RFC 6994, kind 254), then MSS. */
    assert_int_equal(parse_with_options(OPTS(0xfe, 6, 0xab, 0xcd, 1, 2, 2, 4, 0x05, 0x78, 1, 1),
                                        &r),
                     WIRE_OK);
    assert_int_equal(r.opt.present, TCP_HAS_MSS);
    assert_int_equal(r.opt.mss, 1400);
    /* TCP-MD5 (RFC 2385, kind 19, 18 bytes), then window scale. */
    assert_int_equal(parse_with_options(OPTS(1, 1, 19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                             12, 13, 14, 15, 16, 1, 3, 3, 9),
                                        &r),
                     WIRE_OK);
    assert_int_equal(r.opt.present, TCP_HAS_WSCALE);
    assert_int_equal(r.opt.wscale, 9);
    /* A Fast Open cookie request (RFC 7413, kind 34, length 2). */
    assert_int_equal(parse_with_options(OPTS(34, 2, 1, 1), &r), WIRE_OK);
    assert_int_equal(r.opt.present, 0);
}

static void test_tcp_eol_ends_option_list(void **state)
{
    (void)state;
    struct tcp_repr r;
    /* What follows EOL is padding, even if it looks like a malformed option. */
    assert_int_equal(parse_with_options(OPTS(2, 4, 5, 0xb4, 0, 0x22, 0, 0), &r), WIRE_OK);
    assert_int_equal(r.opt.present, TCP_HAS_MSS);
    assert_int_equal(parse_with_options(OPTS(0, 2, 4, 5), &r), WIRE_OK);
    assert_int_equal(r.opt.present, 0);
}

static void test_tcp_repeated_option_last_wins(void **state)
{
    (void)state;
    struct tcp_repr r;
    assert_int_equal(parse_with_options(OPTS(2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18), &r), WIRE_OK);
    assert_int_equal(r.opt.mss, 536);
    assert_int_equal(parse_with_options(OPTS(1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18,
                                             0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6),
                                        &r),
                     WIRE_OK);
    assert_int_equal(r.opt.sack_count, 2);
    assert_int_equal(r.opt.sack[0].start, 3);
    assert_int_equal(r.opt.sack[1].end, 6);
}

static void test_tcp_four_sack_blocks_without_timestamps_are_accepted(void **state)
{
    (void)state;
    struct tcp_repr r;
    assert_int_equal(parse_with_options(OPTS(1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0,
                                             0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0,
                                             0, 8),
                                        &r),
                     WIRE_OK);
    assert_int_equal(r.opt.sack_count, 4);
    assert_int_equal(r.opt.sack[3].start, 7);
    assert_int_equal(r.opt.sack[3].end, 8);
}

static void test_tcp_flags_include_ae_and_ignore_reserved_bits(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_rst, seg, sizeof seg);
    struct tcp_repr r;
    seg[12] = 0x5f;                                 /* offset 5, reserved bits, AE */
    seg[13] = 0xff;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(r.flags, 0x1ff);
    seg[12] = 0x5e;
    seg[13] = TCP_CWR | TCP_ECE | TCP_SYN;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(r.flags, TCP_CWR | TCP_ECE | TCP_SYN);
}

/* ---- Emitting ---- */

/* Emits the parsed sample again, payload and checksum included, and compares every byte. */
static void check_emit_reproduces(enum wire_sample_id id)
{
    uint8_t seg[128], out[128];
    size_t len = tcp_copy(id, seg, sizeof seg);
    struct tcp_repr r;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    assert_int_equal(tcp_header_len(&r), r.hdr_len);
    assert_int_equal(tcp_emit(&r, out, sizeof out), r.hdr_len);
    memcpy(out + r.hdr_len, r.payload, r.payload_len);
    tcp_set_checksum(out, len, pseudo_for(id, len));
    assert_memory_equal(out, seg, len);
}

static void test_tcp_emit_reproduces_linux_segments_byte_for_byte(void **state)
{
    (void)state;
    check_emit_reproduces(SAMPLE_tcp_syn);
    check_emit_reproduces(SAMPLE_tcp_synack);
    check_emit_reproduces(SAMPLE_tcp_data_sack);
    check_emit_reproduces(SAMPLE_tcp_ack_sack3);
    check_emit_reproduces(SAMPLE_tcp_rst);
}

static void expect_emitted_options(const struct tcp_options *o, const uint8_t *want, size_t n)
{
    struct tcp_repr r = { .sport = 1, .dport = 2, .flags = TCP_SYN, .opt = *o };
    uint8_t out[TCP_MAX_HDR_LEN];
    assert_int_equal(tcp_emit(&r, out, sizeof out), TCP_HDR_LEN + n);
    assert_int_equal(out[12] >> 4, (TCP_HDR_LEN + n) / 4);
    assert_memory_equal(out + TCP_HDR_LEN, want, n);
}

static void test_tcp_emit_syn_without_timestamps_uses_nop_nop_sack_permitted(void **state)
{
    (void)state;
    struct tcp_options o = { .present = TCP_HAS_MSS | TCP_HAS_SACK_PERM | TCP_HAS_WSCALE,
                             .mss = 1460, .wscale = 7 };
    /* mss 1460,nop,nop,sackOK,nop,wscale 7 */
    expect_emitted_options(&o, OPTS(2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7));
}

static void test_tcp_emit_timestamps_without_sack_permitted_use_nop_nop(void **state)
{
    (void)state;
    struct tcp_options o = { .present = TCP_HAS_MSS | TCP_HAS_TIMESTAMP, .mss = 536,
                             .ts_val = 0x01020304, .ts_ecr = 0x05060708 };
    expect_emitted_options(&o, OPTS(2, 4, 0x02, 0x18, 1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8));
}

static void test_tcp_emit_window_scale_alone_and_no_options(void **state)
{
    (void)state;
    struct tcp_options o = { .present = TCP_HAS_WSCALE, .wscale = 14 };
    expect_emitted_options(&o, OPTS(1, 3, 3, 14));
    struct tcp_options none = { .mss = 1460 };      /* values without their bits are ignored */
    expect_emitted_options(&none, NULL, 0);
}

static void test_tcp_header_len_refuses_options_beyond_40_bytes(void **state)
{
    (void)state;
    struct tcp_repr r = { .opt = { .present = TCP_HAS_TIMESTAMP | TCP_HAS_SACK, .sack_count = 3 } };
    assert_int_equal(tcp_header_len(&r), TCP_MAX_HDR_LEN);
    r.opt.sack_count = 4;                           /* 12 + 36 bytes: Linux sends 3 at most */
    assert_int_equal(tcp_header_len(&r), 0);
    uint8_t out[128];
    assert_int_equal(tcp_emit(&r, out, sizeof out), 0);
    r.opt.present = TCP_HAS_SACK;
    assert_int_equal(tcp_header_len(&r), TCP_HDR_LEN + 36);
    r.opt.sack_count = 0;                           /* a SACK option needs a block */
    assert_int_equal(tcp_header_len(&r), 0);
    r.opt.sack_count = 5;
    assert_int_equal(tcp_header_len(&r), 0);
}

static void test_tcp_emit_refuses_small_buffer(void **state)
{
    (void)state;
    uint8_t seg[128];
    size_t len = tcp_copy(SAMPLE_tcp_syn, seg, sizeof seg);
    struct tcp_repr r;
    assert_int_equal(tcp_parse(seg, len, &r), WIRE_OK);
    uint8_t out[64];
    memset(out, 0xee, sizeof out);
    for (size_t cap = 0; cap < 40; cap++)
        assert_int_equal(tcp_emit(&r, out, cap), 0);
    assert_int_equal(out[0], 0xee);
    assert_int_equal(tcp_emit(&r, out, 40), 40);
    assert_int_equal(out[40], 0xee);
}

static void fill_options(struct tcp_options *o, unsigned present, unsigned sack_count)
{
    *o = (struct tcp_options){ .present = (uint8_t)present, .wscale = 14, .mss = 8960,
                               .ts_val = 0xfffffff0u, .ts_ecr = 0x7fffffffu };
    if (present & TCP_HAS_SACK) {
        o->sack_count = (uint8_t)sack_count;
        for (unsigned i = 0; i < sack_count; i++) {
            o->sack[i].start = 0xfffff000u + i * 0x800;      /* wrapping past 2^32 */
            o->sack[i].end = o->sack[i].start + 0x400;
        }
    }
}

static void test_tcp_round_trip_of_every_option_combination(void **state)
{
    (void)state;
    unsigned fitted = 0;
    for (unsigned present = 0; present < 32; present++) {
        for (unsigned sacks = 1; sacks <= TCP_MAX_SACK_BLOCKS; sacks++) {
            struct tcp_repr in = { .sport = 443, .dport = 61000, .seq = 0xfffffffeu,
                                   .ack = 0x80000000u, .flags = TCP_ACK | TCP_PSH,
                                   .window = 65535, .urgent = 0 };
            fill_options(&in.opt, present, sacks);
            size_t hdr_len = tcp_header_len(&in);
            if (hdr_len == 0)
                continue;                           /* too many options for 40 bytes */
            fitted++;
            uint8_t out[TCP_MAX_HDR_LEN + 5] = { 0 };
            assert_int_equal(tcp_emit(&in, out, sizeof out), hdr_len);
            struct tcp_repr back;
            assert_int_equal(tcp_parse(out, hdr_len + 5, &back), WIRE_OK);
            assert_repr_equal(&back, &in);
            assert_int_equal(back.hdr_len, hdr_len);
            assert_int_equal(back.payload_len, 5);
            if (!(present & TCP_HAS_SACK))
                break;                              /* the count does not matter */
        }
    }
    assert_true(fitted > 20);
}

static void test_tcp_round_trip_of_every_flag_combination(void **state)
{
    (void)state;
    for (unsigned flags = 0; flags < 0x200; flags++) {
        struct tcp_repr in = { .sport = 1, .dport = 2, .seq = flags, .flags = (uint16_t)flags,
                               .urgent = 0x1234 };
        uint8_t out[TCP_HDR_LEN];
        assert_int_equal(tcp_emit(&in, out, sizeof out), TCP_HDR_LEN);
        struct tcp_repr back;
        assert_int_equal(tcp_parse(out, sizeof out, &back), WIRE_OK);
        assert_repr_equal(&back, &in);
    }
}

/* ---- Checksums ---- */

static void test_tcp_checksum_verifies_captured_segments(void **state)
{
    (void)state;
    static const enum wire_sample_id ids[] = { SAMPLE_tcp_syn, SAMPLE_tcp_synack,
                                               SAMPLE_tcp_data_sack, SAMPLE_tcp_ack_sack3,
                                               SAMPLE_tcp_rst };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint8_t seg[128];
        size_t len = tcp_copy(ids[i], seg, sizeof seg);
        uint32_t pseudo = pseudo_for(ids[i], len);
        assert_true(tcp_checksum_ok(seg, len, pseudo));
        seg[len - 1] ^= 1;
        assert_false(tcp_checksum_ok(seg, len, pseudo));
        seg[len - 1] ^= 1;
        /* The pseudo-header's length counts too. */
        assert_false(tcp_checksum_ok(seg, len, pseudo_for(ids[i], len + 2)));
    }
}

static void test_tcp_checksum_refuses_segment_shorter_than_header(void **state)
{
    (void)state;
    uint8_t seg[TCP_HDR_LEN] = { 0 };
    assert_false(tcp_checksum_ok(seg, TCP_HDR_LEN - 1, 0));
    tcp_set_checksum(seg, TCP_HDR_LEN - 1, 0);     /* no room for the field: nothing written */
    assert_int_equal(seg[16] | seg[17], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_parse_linux_syn_with_all_options),
        cmocka_unit_test(test_tcp_parse_linux_synack),
        cmocka_unit_test(test_tcp_parse_data_segment_with_timestamps_and_sack_blocks),
        cmocka_unit_test(test_tcp_parse_three_sack_blocks_filling_the_option_space),
        cmocka_unit_test(test_tcp_parse_rst_without_options),
        cmocka_unit_test(test_tcp_truncated_header_at_every_length),
        cmocka_unit_test(test_tcp_data_offset_below_five_is_rejected),
        cmocka_unit_test(test_tcp_data_offset_past_the_end_is_truncated),
        cmocka_unit_test(test_tcp_option_length_zero_is_rejected),
        cmocka_unit_test(test_tcp_option_length_one_is_rejected),
        cmocka_unit_test(test_tcp_option_overflowing_header_is_rejected),
        cmocka_unit_test(test_tcp_option_kind_without_length_byte_is_rejected),
        cmocka_unit_test(test_tcp_known_option_with_wrong_length_is_rejected),
        cmocka_unit_test(test_tcp_unknown_options_are_skipped_by_length),
        cmocka_unit_test(test_tcp_eol_ends_option_list),
        cmocka_unit_test(test_tcp_repeated_option_last_wins),
        cmocka_unit_test(test_tcp_four_sack_blocks_without_timestamps_are_accepted),
        cmocka_unit_test(test_tcp_flags_include_ae_and_ignore_reserved_bits),
        cmocka_unit_test(test_tcp_emit_reproduces_linux_segments_byte_for_byte),
        cmocka_unit_test(test_tcp_emit_syn_without_timestamps_uses_nop_nop_sack_permitted),
        cmocka_unit_test(test_tcp_emit_timestamps_without_sack_permitted_use_nop_nop),
        cmocka_unit_test(test_tcp_emit_window_scale_alone_and_no_options),
        cmocka_unit_test(test_tcp_header_len_refuses_options_beyond_40_bytes),
        cmocka_unit_test(test_tcp_emit_refuses_small_buffer),
        cmocka_unit_test(test_tcp_round_trip_of_every_option_combination),
        cmocka_unit_test(test_tcp_round_trip_of_every_flag_combination),
        cmocka_unit_test(test_tcp_checksum_verifies_captured_segments),
        cmocka_unit_test(test_tcp_checksum_refuses_segment_shorter_than_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
