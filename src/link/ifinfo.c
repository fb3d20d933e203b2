/* Interface facts through SIOCGIF* ioctls, and link option strings (see ifinfo.h). */
#include "link/ifinfo.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int ifinfo_get(const char *ifname, struct ifinfo *out)
{
    struct ifreq ifr;
    if (strlen(ifname) >= IFNAMSIZ)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int err = 0;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
        err = errno == ENODEV ? -ENODEV : -errno;
        goto out;
    }
    out->index = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
        err = -errno;
        goto out;
    }
    out->mtu = (uint32_t)ifr.ifr_mtu;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        err = -errno;
        goto out;
    }
    memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
out:
    close(fd);
    return err;
}

int ifspec_split(const char *spec, char *name, unsigned name_cap, const char **options)
{
    const char *comma = strchr(spec, ',');
    size_t len = comma ? (size_t)(comma - spec) : strlen(spec);
    if (len == 0 || len >= name_cap || len >= IFNAMSIZ)
        return -EINVAL;
    memcpy(name, spec, len);
    name[len] = 0;
    *options = comma ? comma + 1 : NULL;
    return 0;
}

const char *ifspec_option(const char *options, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = options; p && *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=')
            return p + klen + 1;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return NULL;
}
