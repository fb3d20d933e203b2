/*
 * What the shim's files share (see preload/README.md for the whole picture).
 */
#ifndef UST_PRELOAD_PL_H
#define UST_PRELOAD_PL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "decide.h"
#include "fdtab.h"
#include "real.h"
#include "ustack/ustack.h"

#define pl_log(level, ...) ust_log(level, "preload: " __VA_ARGS__)

/* The process's stack, created from UST_* on first need; NULL if there is none (UST_LINK unset,
 * creation failed, or this is a forked child that did not exec). */
struct ust_stack *pl_stack(void);
extern struct pl_policy pl_policy;
/* Set in the child of fork(): the parent's stack is not ours to touch. */
extern volatile bool pl_forked;

/* In a forked child, a call on an inherited ustack socket: logs and fails with ENOTSUP. */
int pl_child_refuse(int fd, const char *call);

/* Decides a pending descriptor. For PL_USTACK, replaces the kernel socket with a ustack socket
 * under the same number (falling back to the kernel with a logged reason if that fails).
 * Returns the kind fd has afterwards. `why` and `call` are for the log. */
enum pl_kind pl_settle(int fd, enum pl_verdict v, const char *call, const char *why);

/* Registers an accepted or otherwise new ustack descriptor. */
void pl_adopt(int fd);

/* The bottom half (bh.c). */
void pl_bh_start(struct ust_stack *s);

/* Linux's struct tcp_info from ust_tcp_info (tcpinfo.c). Returns 0 or -1 and errno. */
int pl_get_tcp_info(int fd, void *val, socklen_t *len);

/* SA_RESTART emulation (signals.c): call pl_restart_begin before a ustack call that may block;
 * pl_restart_after(rc, ustack fd, SO_RCVTIMEO or SO_SNDTIMEO) says whether to call it again. */
void pl_restart_begin(void);
/* Hooks the signal check into ustack's sleeps (constructor). */
void pl_signals_init(void);
bool pl_restart_after(long rc, int fd, int timeo_opt);

#define PL_RESTARTING(fd, timeo_opt, call)                                                     \
    ({                                                                                         \
        long rc_;                                                                              \
        do {                                                                                   \
            pl_restart_begin();                                                                \
            rc_ = (long)(call);                                                                \
        } while (pl_restart_after(rc_, (fd), (timeo_opt)));                                    \
        rc_;                                                                                   \
    })

static inline long pl_ret(long rc)
{
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

#endif
