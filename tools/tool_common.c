/*
 * Helpers shared by the ustack subcommands: building a stack from the environment and the
 * command line, parsing addresses, hashing transferred bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ustack.h"

struct ust_stack *tool_stack(const char *cmd, struct ust_config *cfg, int *argc, char **argv,
                             int *status)
{
    char err[160];
    ust_config_defaults(cfg);
    if (ust_config_from_env(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "ustack %s: %s\n", cmd, err);
        *status = 2;
        return NULL;
    }
    *status = tool_config_args(cfg, argc, argv);
    if (*status)
        return NULL;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *status = -1;   /* the caller prints its usage */
            return NULL;
        }
    }
    struct ust_stack *s = ust_stack_create(cfg);
    if (!s) {
        fprintf(stderr, "ustack %s: cannot create the stack: %s\n", cmd, strerror(errno));
        *status = 1;
    }
    return s;
}

int tool_parse_ipv4(const char *text, struct sockaddr_in *out, bool need_port)
{
    char host[64];
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    if (len >= sizeof(host) || (need_port && !colon))
        return -EINVAL;
    memcpy(host, text, len);
    host[len] = 0;
    *out = (struct sockaddr_in){ .sin_family = AF_INET };
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return -EINVAL;
    if (colon) {
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535)
            return -EINVAL;
        out->sin_port = htons((uint16_t)port);
    }
    return 0;
}

int tool_parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || end == text || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

void tool_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- The test stream: block k (32 bytes) is SHA-256 of k as 8 little-endian bytes ---- */

void tool_stream_fill(uint64_t offset, uint8_t *buf, size_t n)
{
    uint8_t block[32];
    uint64_t cached = UINT64_MAX;
    for (size_t i = 0; i < n;) {
        uint64_t k = (offset + i) / 32;
        size_t at = (size_t)((offset + i) % 32);
        if (k != cached) {
            uint8_t le[8];
            for (int b = 0; b < 8; b++)
                le[b] = (uint8_t)(k >> (8 * b));
            unsigned len = 0;
            EVP_Digest(le, sizeof(le), block, &len, EVP_sha256(), NULL);
            cached = k;
        }
        size_t take = 32 - at < n - i ? 32 - at : n - i;
        memcpy(buf + i, block + at, take);
        i += take;
    }
}

void tool_hash_init(struct tool_hash *h)
{
    h->ctx = EVP_MD_CTX_new();
    h->bytes = 0;
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void tool_hash_update(struct tool_hash *h, const void *buf, size_t n)
{
    EVP_DigestUpdate(h->ctx, buf, n);
    h->bytes += n;
}

void tool_hash_final(struct tool_hash *h, char hex[65])
{
    uint8_t d[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(h->ctx, d, &len);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    tool_hex(d, 32, hex);
}
