/* The ustack command's subcommands (tools/ustack.c dispatches to them). */
#ifndef UST_TOOLS_USTACK_H
#define UST_TOOLS_USTACK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ustack/ustack.h"

/* Each returns the process exit status. argv[0] is the subcommand's name. */
int cmd_echo(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_udp_client(int argc, char **argv);
int cmd_tcp_client(int argc, char **argv);
int cmd_bridge(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* Reads UST_* and --name=value options into cfg (consuming them from argv) and creates the
 * stack. NULL with *status: 2 for a usage error, 1 if the stack failed, -1 if --help was asked. */
struct ust_stack *tool_stack(const char *cmd, struct ust_config *cfg, int *argc, char **argv,
                             int *status);
/* "198.18.0.1" or "198.18.0.1:7" into a sockaddr_in. Returns 0 or -EINVAL. */
int tool_parse_ipv4(const char *text, struct sockaddr_in *out, bool need_port);
int tool_parse_uint(const char *text, unsigned long max, unsigned long *out);
/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void tool_hex(const uint8_t *bytes, size_t n, char *out);

/* The deterministic test stream used by echo --source and tcp-client --send (and `ustack gen`):
 * its 8-byte little-endian word i is splitmix64(i) -- fast, and easy to regenerate anywhere. */
void tool_stream_fill(uint64_t offset, uint8_t *buf, size_t n);

/* SHA-256 over what a transfer carried. */
struct tool_hash {
    void *ctx;
    uint64_t bytes;
};
void tool_hash_init(struct tool_hash *h);
void tool_hash_update(struct tool_hash *h, const void *buf, size_t n);
void tool_hash_final(struct tool_hash *h, char hex[65]);

/* Prints "tcp.connections_live N": TCP connections of s not yet closed (TIME_WAIT entries
 * excluded), after letting closes in progress finish for up to settle_ms (the peer's last ACKs
 * may still be waiting in the link). Tests check that nothing is left behind with it. */
void tool_print_tcp_live(struct ust_stack *s, FILE *f, unsigned settle_ms);

/* TCP service for ustack echo (tcp_serve.c): a listener on `port` in one of these modes. */
enum tcp_mode { TCP_MODE_ECHO, TCP_MODE_DISCARD, TCP_MODE_SOURCE };
struct tcp_server;
struct tcp_server *tcp_server_open(uint16_t port, enum tcp_mode mode, uint64_t source_bytes);
/* Hashing of the bytes served on (the default) or off ("sha256 -" is printed then). */
void tcp_server_set_hash(struct tcp_server *t, bool on);
/* TCP_USER_TIMEOUT (ms) on the listener, which its connections inherit. 0 or -errno. */
int tcp_server_set_user_timeout(struct tcp_server *t, unsigned ms);
/* Adds the server's descriptors to fds (returns how many), and handles what poll reported. */
unsigned tcp_server_pollfds(struct tcp_server *t, struct pollfd *fds, unsigned max);
void tcp_server_handle(struct tcp_server *t, const struct pollfd *fds, unsigned n);
void tcp_server_close(struct tcp_server *t);

/* Applies "--name=value" / "--name value" options of the config table to cfg, consuming them
 * from argv (shifted down, argc updated). Returns 0, or 2 after printing an error. */
int tool_config_args(struct ust_config *cfg, int *argc, char **argv);

#endif
