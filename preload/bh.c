/*
 * The bottom half: a thread that keeps the stack moving while the program is not calling into
 * it (computing, or blocked on something else), so ACKs, retransmissions, keepalives and window
 * updates still go out (docs/design.md, "Execution model").
 *
 * It stays out of the program's way:
 * - while a program thread sleeps inside ustack (s->sleepers), that thread already wakes for
 *   frames and timers: the bottom half only naps (BH_NAP_NS) and looks again;
 * - while the program entered the stack recently (s->now younger than BH_RECENT_NS), the program
 *   is driving it: the bottom half waits until that would be stale;
 * - otherwise it sleeps in poll(2) on the links' descriptors and the stack's wake-up line, no
 *   later than the next timer, and then processes what came with a trylock, never queueing behind
 *   a program thread for the lock.
 * All signals are blocked in it, so the program's handlers run in the program's threads.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "net/stack.h"
#include "pl.h"

#define BH_RECENT_NS (500 * NS_PER_US)
#define BH_NAP_NS (10 * NS_PER_MS)
#define BH_MAX_SLEEP_MS 1000

static void nap(uint64_t ns)
{
    struct timespec ts = { .tv_sec = (time_t)(ns / NS_PER_SEC),
                           .tv_nsec = (long)(ns % NS_PER_SEC) };
    nanosleep(&ts, NULL);
}

static void *bh_main(void *arg)
{
    struct ust_stack *s = arg;
    for (;;) {
        if (pl_forked)
            return NULL;
        uint64_t now = clk_mono_ns();
        uint64_t last = __atomic_load_n(&s->now, __ATOMIC_RELAXED);
        if (__atomic_load_n(&s->sleepers, __ATOMIC_RELAXED)) {
            nap(BH_NAP_NS);
            continue;
        }
        if (now < last + BH_RECENT_NS) {
            nap(last + BH_RECENT_NS - now);
            continue;
        }
        uint64_t next = UINT64_MAX;
        struct pollfd pfd[STACK_MAX_IFACES + 1];
        nfds_t n = 0;
        if (pthread_mutex_trylock(&s->lock) == 0) {
            s->now = clk_now(s->clock);
            stack_process(s);
            next = timer_wheel_next(&s->wheel);
            for (unsigned i = 0; i < s->n_ifaces; i++) {
                uint64_t t = link_next_event_ns(s->ifaces[i].link);
                if (t < next)
                    next = t;
                int fd = s->ifaces[i].down ? -1 : link_wait_fd(s->ifaces[i].link);
                if (fd >= 0)
                    pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
            }
            stack_leave(s);   /* transmits what processing produced */
        } else {
            nap(BH_RECENT_NS);
            continue;
        }
        int ms = BH_MAX_SLEEP_MS;
        now = clk_mono_ns();
        if (next != UINT64_MAX) {
            uint64_t d = next > now ? (next - now + NS_PER_MS - 1) / NS_PER_MS : 0;
            if (d < (uint64_t)ms)
                ms = (int)d;
        }
        if (ms > 0)
            ust_real_poll(pfd, n, ms);
    }
    return NULL;
}

void pl_bh_start(struct ust_stack *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int err = pthread_create(&t, NULL, bh_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pl_log(UST_LOG_WARN, "cannot start the bottom half (%s): the stack moves only when the "
               "program calls it", strerror(err));
        return;
    }
    pthread_detach(t);
    pl_log(UST_LOG_DEBUG, "bottom half started");
}
