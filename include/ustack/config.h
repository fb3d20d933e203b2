/*
 * ustack's runtime options, defined once.
 *
 * Each option is one line of UST_CONFIG_OPTIONS: name, type, default, minimum, maximum, and a
 * one-line description. The table generates struct ust_config, the parser with range checks
 * (ust_config_set), the environment reader (UST_<NAME>, e.g. UST_MTU=9000) and the help text
 * (`ustack help config`). Numbers accept a k/m/g suffix (powers of 1024).
 *
 * Types: STR (a string of up to UST_CONFIG_STR_MAX - 1 bytes; min and max unused), U32, BOOL.
 */
#ifndef USTACK_CONFIG_H
#define USTACK_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UST_CONFIG_STR_MAX 128

/* X(name, type, default, min, max, doc) */
#define UST_CONFIG_OPTIONS(X)                                                                    \
    X(link, STR, "", 0, 0, "the link: tap:IFNAME[,vnet=0][,tso=0], afpacket:IFNAME, afxdp:IFNAME, loop:NAME or shm:PATH,side=N") \
    X(addr, STR, "", 0, 0, "the stack's IPv4 address and prefix length, e.g. 198.18.0.2/24")      \
    X(gw, STR, "", 0, 0, "default gateway (IPv4 address on the link's network), or empty")       \
    X(mac, STR, "", 0, 0, "the stack's MAC address; empty picks a random locally administered one") \
    X(mtu, U32, 1500, 68, 65535, "largest IPv4 packet on the link (the link may lower it)")      \
    X(pcap, STR, "", 0, 0, "record every frame the stack sends and receives to this pcap file")   \
    X(fault, STR, "", 0, 0, "impair the link, e.g. loss=0.01,seed=7 (see ustack help fault)")    \
    X(log, STR, "", 0, 0, "log level: error, warn, info or debug (empty keeps UST_LOG's)")       \
    X(pool_buffers, U32, 16384, 64, 1u << 22, "frame buffers in the stack's pool (2 KiB each at MTU 1500)") \
    X(big_buffers, U32, 64, 2, 4096, "64 KiB buffers: reassembled and large datagrams, received super-frames")                 \
    X(prefault, BOOL, 0, 0, 1, "make all buffer memory resident at start (no page faults later)") \
    X(rx_burst, U32, 32, 1, 256, "frames taken from a link per receive call")                    \
    X(spin_us, U32, 0, 0, 10000000, "busy polling: microseconds a blocking call (recv, send, accept, connect, ust_poll, ust_epoll_wait) polls the links before it sleeps") \
    X(spin_signals, BOOL, 1, 0, 1, "a spinning call blocks signals and ends with EINTR when one comes (3 system calls per spin); 0: no system call, a signal's handler runs and the spin goes on (EINTR only from the sleep after it)") \
    X(rx_speculate, BOOL, 1, 0, 1, "before sleeping in poll, read a link known to be empty if such reads lately found frames (one system call instead of two)") \
    X(ttl, U32, 64, 1, 255, "IPv4 time to live of packets we originate")                         \
    X(arp_cache, U32, 256, 8, 65536, "neighbour entries in the ARP cache")                        \
    X(arp_queue, U32, 101, 1, 65536, "packets held per neighbour while its address is resolved")    \
    X(arp_reachable_ms, U32, 30000, 1000, 3600000, "how long a confirmed neighbour stays reachable") \
    X(arp_retrans_ms, U32, 1000, 10, 60000, "interval between ARP requests for one address")     \
    X(arp_retries, U32, 3, 1, 100, "ARP requests sent before an address is declared unreachable") \
    X(arp_stale_ms, U32, 60000, 1000, 3600000, "how long an unused stale neighbour is kept")     \
    X(arp_static, STR, "", 0, 0, "static neighbours ARP never changes: IP=MAC[,IP=MAC...], each IP on the link's network") \
    X(reasm_timeout_ms, U32, 30000, 100, 600000, "time allowed to reassemble a fragmented datagram") \
    X(reasm_mem, U32, 4194304, 65536, 1u << 30, "bytes of fragments held for reassembly, at most") \
    X(reasm_max, U32, 64, 1, 65536, "datagrams under reassembly at once, at most")               \
    X(icmp_rate, U32, 1000, 0, 1000000, "ICMP errors sent per second, at most (0: none)")        \
    X(icmp_burst, U32, 50, 1, 1000000, "ICMP errors that may be sent in a burst")                 \
    X(rmem_default, U32, 212992, 2304, 1u << 30, "default receive buffer (SO_RCVBUF), bytes")    \
    X(rmem_max, U32, 4194304, 2304, 1u << 30, "largest receive buffer SO_RCVBUF may ask for")    \
    X(wmem_default, U32, 212992, 4608, 1u << 30, "default send buffer (SO_SNDBUF), bytes")       \
    X(wmem_max, U32, 4194304, 4608, 1u << 30, "largest send buffer SO_SNDBUF may ask for")       \
    X(mem_max, U32, 0, 0, 4294967295u, "socket buffer bytes of all sockets together, at most (0: 3/4 of the packet pools)") \
    X(mem_pressure, U32, 0, 0, 4294967295u, "socket buffer bytes beyond which TCP windows stay small (0: 2/3 of mem_max)") \
    X(port_min, U32, 32768, 1, 65535, "lowest ephemeral port")                                   \
    X(port_max, U32, 60999, 1, 65535, "highest ephemeral port")                                  \
    X(max_sockets, U32, 65536, 1, 1u << 24, "sockets per stack, at most (EMFILE beyond)")       \
    X(private_fds, BOOL, 0, 0, 1, "number sockets from 2^20 up without kernel descriptors (ust_* calls only; not under ustack run)") \
    X(tcp_rmem, U32, 1048576, 4096, 1u << 30, "TCP receive buffer per connection, bytes")       \
    X(tcp_wmem, U32, 1048576, 4096, 1u << 30, "TCP send buffer per connection, bytes")          \
    X(tcp_cc, STR, "cubic", 0, 0, "congestion control for new connections: cubic or newreno")  \
    X(tcp_sack, BOOL, 1, 0, 1, "offer and accept SACK (RFC 2018)")                               \
    X(tcp_tlp, BOOL, 1, 0, 1, "tail loss probes with SACK (RFC 8985 7, as Linux)")             \
    X(tcp_tlp_resend, BOOL, 1, 0, 1, "a probe with 2+ segments out resends the last (0: new data)") \
    X(tcp_tlp_recovery, BOOL, 1, 0, 1, "tail loss probes in fast recovery too (0: not, as Linux)") \
    X(tcp_timestamps, BOOL, 1, 0, 1, "offer and accept timestamps (RFC 7323)")                   \
    X(tcp_window_scaling, BOOL, 1, 0, 1, "offer and accept window scaling (RFC 7323)")          \
    X(tcp_tso, BOOL, 1, 0, 1, "send super-frames the link segments, where it can (TSO)")          \
    X(tcp_min_rto_ms, U32, 200, 1, 60000, "lowest retransmission timeout (Linux's 200 ms)")     \
    X(tcp_max_rto_ms, U32, 120000, 100, 600000, "highest retransmission timeout")                \
    X(tcp_syn_retries, U32, 6, 1, 127, "SYN retransmissions before connect fails")              \
    X(tcp_synack_retries, U32, 5, 1, 127, "SYN-ACK retransmissions before giving up")           \
    X(tcp_retries2, U32, 15, 1, 127, "data retransmissions before the connection fails")        \
    X(tcp_delack_ms, U32, 40, 1, 500, "delayed ACK timeout")                                    \
    X(tcp_fin_timeout_s, U32, 60, 1, 3600, "how long an orphaned connection waits in FIN_WAIT_2") \
    X(tcp_time_wait_ms, U32, 60000, 1, 600000, "TIME_WAIT duration (2 MSL; Linux uses 60 s)")   \
    X(tcp_keepalive_time_s, U32, 7200, 1, 32767, "idle time before keepalive probes")           \
    X(tcp_keepalive_intvl_s, U32, 75, 1, 32767, "interval between keepalive probes")            \
    X(tcp_keepalive_probes, U32, 9, 1, 127, "unanswered keepalive probes before the connection fails") \
    X(tcp_syncookies, BOOL, 1, 0, 1, "answer with SYN cookies when the SYN queue is full")      \
    X(tcp_max_syn_backlog, U32, 4096, 1, 1u << 20, "connections in SYN_RECEIVED per listener")  \
    X(somaxconn, U32, 4096, 1, 65535, "largest listen backlog")                                 \
    X(tcp_max_orphans, U32, 65536, 0, 1u << 24, "closed connections still finishing (orphans), at most: beyond, a close resets") \
    X(tcp_max_tw_buckets, U32, 65536, 0, 1u << 24, "TIME_WAIT entries, at most: beyond, a connection skips TIME_WAIT") \
    X(tcp_challenge_ack_limit, U32, 1000, 1, 1u << 30, "challenge ACKs per second (RFC 5961)") \
    X(tcp_invalid_ratelimit_ms, U32, 500, 0, 60000, "least time between ACKs answering a connection's out-of-window or PAWS-failing pure ACKs (Linux's tcp_invalid_ratelimit; 0: no limit)")

#define UST_CFG_TYPE_STR char
#define UST_CFG_TYPE_U32 uint32_t
#define UST_CFG_TYPE_BOOL int
#define UST_CFG_DIM_STR [UST_CONFIG_STR_MAX]
#define UST_CFG_DIM_U32
#define UST_CFG_DIM_BOOL
#define UST_CFG_FIELD_(name, type, def, min, max, doc) UST_CFG_TYPE_##type name UST_CFG_DIM_##type;

struct ust_config {
    UST_CONFIG_OPTIONS(UST_CFG_FIELD_)
};

/* Fills every option with its default. */
__attribute__((visibility("default"))) void ust_config_defaults(struct ust_config *c);

/* Sets option `name` from its text form. Returns 0, -ENOENT for an unknown name, -EINVAL for a
 * value that does not parse, -ERANGE for one outside the option's range. */
__attribute__((visibility("default"))) int ust_config_set(struct ust_config *c, const char *name,
                                                          const char *value);

/* Applies every UST_<NAME> environment variable that is set. Returns 0, or the first error of
 * ust_config_set; the offending variable is named in `err` (if err_len > 0). */
__attribute__((visibility("default"))) int ust_config_from_env(struct ust_config *c, char *err,
                                                               size_t err_len);

/* Writes the option table: name, environment variable, type, default, range, description. */
__attribute__((visibility("default"))) void ust_config_help(FILE *f);

#ifdef __cplusplus
}
#endif

#endif
