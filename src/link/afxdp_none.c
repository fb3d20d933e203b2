/*
 * The AF_XDP link in a build without libxdp/libbpf (they were not found at configure time):
 * "afxdp:..." is refused with a message that says so (see afxdp.c for the real driver).
 */
#include <errno.h>

#include "base/log.h"
#include "link/afxdp.h"

const int link_afxdp_built = 0;

int link_afxdp_open(const char *spec, const struct link_env *env, struct link **out)
{
    (void)env;
    (void)out;
    ust_log(UST_LOG_ERROR, "afxdp:%s: this ustack was built without AF_XDP (libxdp and libbpf "
            "were not found when it was configured; install libxdp-dev and libbpf-dev and "
            "reconfigure)", spec);
    return -EPROTONOSUPPORT;
}

const struct afxdp_ctrs *link_afxdp_counters(struct link *l)
{
    (void)l;
    return NULL;
}

int link_afxdp_zerocopy(struct link *l)
{
    (void)l;
    return 0;
}
