/*
 * Facts about a kernel network interface that the tap and afpacket drivers need: index, MTU and
 * MAC address, read with the SIOCGIF* ioctls.
 */
#ifndef UST_LINK_IFINFO_H
#define UST_LINK_IFINFO_H

#include <stdint.h>

struct ifinfo {
    int index;
    uint32_t mtu;
    uint8_t mac[6];
};

/* Returns 0, -ENODEV if there is no such interface, or another negative errno. */
int ifinfo_get(const char *ifname, struct ifinfo *out);

/* Splits "NAME,key=value,..." into the interface name and its option list (NULL if none).
 * Returns 0, or -EINVAL if the name is empty or too long for an interface. */
int ifspec_split(const char *spec, char *name, unsigned name_cap, const char **options);

/* Finds "key=value" in a comma-separated option list; returns the value's start (it ends at the
 * next comma or the string's end) or NULL. */
const char *ifspec_option(const char *options, const char *key);

#endif
