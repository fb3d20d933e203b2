/*
 * ustack: a user-level TCP/IP stack.
 *
 * This is the public API. Everything a program needs to use ustack natively is declared under
 * include/ustack/; nothing else is installed. Exported symbols start with ust_.
 */
#ifndef USTACK_USTACK_H
#define USTACK_USTACK_H

#ifdef __cplusplus
extern "C" {
#endif

#define UST_API __attribute__((visibility("default")))

#define UST_VERSION_MAJOR 0
#define UST_VERSION_MINOR 1
#define UST_VERSION_PATCH 0

/* The library's version as "major.minor.patch". */
UST_API const char *ust_version(void);

#ifdef __cplusplus
}
#endif

#endif
