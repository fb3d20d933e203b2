/*
 * Stream (TCP) sockets: the blocking and timeout logic around tcp/ (stream.c). All functions
 * return 0 / a byte count or a negative errno; they take the stack lock themselves except
 * stream_close, which runs under it.
 */
#ifndef UST_SOCK_STREAM_H
#define UST_SOCK_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define STREAM_IOV_MAX 64

struct sock;

int stream_connect(struct sock *so, uint32_t addr, uint16_t port);
/* Waits for a connection and gives it a descriptor (*child). */
int stream_accept(struct sock *so, struct sock **child, bool nonblock, bool cloexec);
ssize_t stream_send(struct sock *so, const struct iovec *iov, size_t iovcnt, int flags);
ssize_t stream_recv(struct sock *so, const struct iovec *iov, size_t iovcnt, int flags);
/* Lets TCP finish the connection (SO_LINGER honoured). Stack lock held. */
int stream_close(struct sock *so);

#endif
