/*
 * TCP connections against the scripted peer (stacktest.h), put in any state of RFC 9293's
 * diagram by a real handshake (and a real close), then driven segment by segment:
 *
 *   struct conn c = conn_in_state(t, ESTABLISHED);          we connected, default options
 *   struct conn c = conn_in_state(t, ESTABLISHED, .passive = true, .peer_ts = true);
 *   uint32_t L = c.iss + 1, R = c.irs + 1;                   our first data byte, the peer's
 *   feed(t, tcp(.flags = ACK | PSH, .seq = R, .ack = L, .data = "hello"));
 *   expect_tcp(t, .flags = ACK, .seq = L, .ack = R + 5);
 *
 * Initial sequence numbers: the peer's is ours to choose; the stack's comes from
 * tcp_isn_override_for_tests() (a one-shot test hook in tcp_isn.c; RFC 6528 otherwise). Both
 * default to just below 2^32 (CONN_ISS, CONN_IRS), so nearly every test's sequence numbers wrap
 * within its first segments.
 *
 * The peer's handshake options default to what a Linux peer sends without timestamps (MSS 1460,
 * SACK-permitted, window scale 7): timestamps are opt-in (.peer_ts) because they make every
 * segment of a test longer to write. The stack offers everything (its defaults).
 *
 * A test that needs the stack's timestamp value computes it with conn_tsval(): the helper
 * learns the connection's timestamp offset (random, RFC 7323 7.1) from the stack's first
 * segment.
 */
#ifndef UST_TESTS_TCPTEST_H
#define UST_TESTS_TCPTEST_H

#include <netinet/tcp.h>
#include <sys/socket.h>

#include "stacktest.h"
#include "tcp/tcp.h"
#include "ustack/ustack.h"

/* Flags, short. */
#define FIN TCP_FIN
#define SYN TCP_SYN
#define RST TCP_RST
#define PSH TCP_PSH
#define ACK TCP_ACK

/* States, short (RFC 9293's names). */
#define CLOSED TCPS_CLOSED
#define LISTEN TCPS_LISTEN
#define SYN_SENT TCPS_SYN_SENT
#define SYN_RECEIVED TCPS_SYN_RECEIVED
#define ESTABLISHED TCPS_ESTABLISHED
#define FIN_WAIT_1 TCPS_FIN_WAIT_1
#define FIN_WAIT_2 TCPS_FIN_WAIT_2
#define CLOSE_WAIT TCPS_CLOSE_WAIT
#define CLOSING TCPS_CLOSING
#define LAST_ACK TCPS_LAST_ACK
#define TIME_WAIT TCPS_TIME_WAIT

#define CONN_ISS 0xfffffc00u     /* the stack's ISN: 1 KiB before 2^32 */
#define CONN_IRS 0xffffff00u     /* the peer's ISN: 256 bytes before 2^32 */

/* The stack's defaults, as the tests see them on the wire. */
#define ST_MSS 1460              /* MTU 1500 - 40 */
#define ST_WS 7                  /* tcp_choose_wscale: room for rmem_max 4 MiB */
#define ST_RCVBUF 1048576u       /* tcp_rmem */
#define ST_WIN (ST_RCVBUF >> ST_WS)   /* the window field once scaling is in force */

struct conn_opts {
    bool passive;                /* accept from a listener on ST_LPORT, rather than connect */
    bool orphan;                 /* closing states: close() instead of shutdown(SHUT_WR) */
    uint32_t iss, irs;
    int32_t peer_mss;            /* the peer's SYN (or SYN-ACK) options; -1: absent */
    int32_t peer_ws;
    bool peer_sack, peer_ts;
    uint16_t peer_window;        /* window field of the peer's handshake segments */
    uint32_t peer_tsval;         /* the peer's TSval in its SYN (if peer_ts) */
    int rcvbuf, sndbuf;          /* SO_RCVBUF / SO_SNDBUF before the handshake; 0: default */
    bool nodelay;
    int backlog;
    uint32_t rtt_ms;             /* the handshake's round trip (the stack's first RTT sample) */
};

struct conn {
    struct st *t;
    int fd;                      /* the connection (-1: not accepted yet, or closed) */
    int lfd;                     /* the listener (passive), else -1 */
    uint32_t iss, irs;
    uint32_t snd_nxt;            /* the stack's next sequence number once the helper is done */
    uint32_t rcv_nxt;            /* the peer's */
    bool ts, sack, wscale;       /* negotiated */
    uint8_t snd_ws, rcv_ws;      /* shift of the peer's windows / of the stack's */
    uint16_t mss;                /* the stack's send MSS */
    uint32_t peer_tsval;         /* the peer's TSval in its last handshake segment */
    uint32_t ts_offset;          /* the stack's TSval = clock in ms + ts_offset */
};

#define CONN_DEFAULTS_                                                               \
    .iss = CONN_ISS, .irs = CONN_IRS, .peer_mss = 1460, .peer_ws = 7, .peer_sack = true,  \
    .peer_window = 65535, .peer_tsval = 0x7fff0000u, .backlog = 8

/* A connection in `state` (SYN_SENT ... TIME_WAIT). Every segment of the way is checked. */
#define conn_in_state(t, state, ...)                                                 \
    conn_in_state_((t), (state), (struct conn_opts){ CONN_DEFAULTS_, __VA_ARGS__ },       \
                   __FILE__, __LINE__)
struct conn conn_in_state_(struct st *t, enum tcp_state state, struct conn_opts o,
                           const char *file, int line);

/* The stack's TSval for this connection at the current time. */
uint32_t conn_tsval(const struct conn *c);
/* The state of the connection behind a descriptor (RFC 9293 numbering, enum tcp_state). */
enum tcp_state st_tcp_state(int fd);
/* A non-blocking TCP socket on the stack. */
int st_tcp_socket(struct st *t);
/* A listener on (0, port) with this backlog. */
int st_tcp_listener(struct st *t, uint16_t port, int backlog);

/* Writes / reads everything (non-blocking; fails the test if the socket takes or gives less). */
#define conn_send(c, data, len) st_send_all_((c)->fd, (data), (len), __FILE__, __LINE__)
void st_send_all_(int fd, const void *data, size_t len, const char *file, int line);
/* Reads what is there (non-blocking), at most cap bytes; returns the count (0 if none). */
size_t st_read_avail(int fd, void *buf, size_t cap);

/* What an ICMP error quotes of the last frame the stack sent (t->rx): its IPv4 header and the
 * first `l4` bytes after it (RFC 792: 8). Returns the length. */
size_t st_quote_last(struct st *t, uint8_t *buf, size_t cap, size_t l4);

/* A helper thread for the blocking calls: step(t, arg, i) runs for i = 0, 1, ... each time the
 * test's thread is asleep in a call on fd (and the stack has polled since the last step), under
 * the stack lock, so it may take the stack's frames (st_take_tx) and put the peer's on the wire
 * (st_inject_frame), until it returns false. The fake clock never moves by itself: a blocked
 * call with nothing to wake it spins (stack_wait does not sleep on a fake clock). */
typedef bool st_step_fn(struct st *t, void *arg, unsigned i);
struct st_helper;
struct st_helper *st_helper_start(struct st *t, int fd, st_step_fn *step, void *arg);
/* Stops the helper (the test's call has returned) and returns how many steps ran. */
unsigned st_helper_join(struct st_helper *h);

/* ust_tcp_info, failing the test on error. */
struct ust_tcp_info st_tcp_info(int fd);

#define expect_tcp(t, ...) expect_tx((t), want_tcp(__VA_ARGS__))
#define expect_tcp_after(t, ms, ...) expect_tx_after((t), (ms), want_tcp(__VA_ARGS__))

/* A pattern of n bytes, different for every offset (to check data by memcmp). */
void st_pattern(uint8_t *buf, size_t n, uint32_t offset);

#endif
