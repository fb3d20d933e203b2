/*
 * The ustack command: one entry point with subcommands.
 *
 *   ustack echo ...         answer ping and echo UDP on a port (see `ustack echo --help`)
 *   ustack ping ... DEST    ICMP echo from a ustack stack, reported like iputils ping
 *   ustack udp-client ...   datagrams to an echo server, checked and hashed
 *   ustack bridge ...       a two-port impairment wire between two interfaces (no stack)
 *   ustack run ... -- CMD   an unmodified program with its sockets on ustack (LD_PRELOAD)
 *   ustack help config      every runtime option, its environment variable and range
 *   ustack help fault       the fault injection keys
 *   ustack version
 */
#include "ustack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/fault.h"
#include "ustack/ustack.h"

static int usage(FILE *f, int status)
{
    fprintf(f,
            "usage: ustack COMMAND [ARGS]\n\n"
            "commands:\n"
            "  echo        answer ping and echo UDP datagrams (ustack echo --help)\n"
            "  ping        send ICMP echo requests from a ustack stack (ustack ping --help)\n"
            "  udp-client  send datagrams to an echo server and check what comes back\n"
            "  tcp-client  send and receive a checked byte stream over TCP connections\n"
            "  gen         write BYTES of the test stream to standard output\n"
            "  bridge      join two interfaces into an impaired wire (ustack bridge --help)\n"
            "  run         run a program with its sockets on ustack (ustack run --help)\n"
            "  help        help config | help fault\n"
            "  version     print the version\n");
    return status;
}

/* ustack gen BYTES: the test stream on standard output, for peers that are not ustack (a kernel
 * sender piped into socat, a sha256sum to compare with). */
static int cmd_gen(int argc, char **argv)
{
    char *end;
    if (argc != 2) {
        fprintf(stderr, "usage: ustack gen BYTES\n");
        return 2;
    }
    unsigned long long total = strtoull(argv[1], &end, 10);
    if (*end) {
        fprintf(stderr, "ustack gen: %s: not a byte count\n", argv[1]);
        return 2;
    }
    static uint8_t buf[1 << 16];
    for (unsigned long long off = 0; off < total;) {
        size_t n = total - off < sizeof(buf) ? (size_t)(total - off) : sizeof(buf);
        tool_stream_fill(off, buf, n);
        if (fwrite(buf, 1, n, stdout) != n)
            return 1;
        off += n;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2)
        return usage(stdout, 0);
    if (strcmp(argv[1], "config") == 0) {
        ust_config_help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "fault") == 0) {
        fault_config_help(stdout);
        return 0;
    }
    fprintf(stderr, "ustack help: unknown topic \"%s\" (config, fault)\n", argv[1]);
    return 2;
}

/* Splits "--name=value" or "--name value"; returns the number of argv slots used, 0 if arg is
 * not an option of the config table. */
static int take_option(struct ust_config *cfg, char **argv, int i, int argc, int *status)
{
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0)
        return 0;
    char name[64];
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len == 0 || len >= sizeof(name))
        return 0;
    memcpy(name, a + 2, len);
    name[len] = 0;
    for (char *c = name; *c; c++)
        if (*c == '-')
            *c = '_';
    const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
    struct ust_config probe = *cfg;
    int rc = value ? ust_config_set(&probe, name, value) : -ENOENT;
    if (rc == -ENOENT)
        return 0;
    if (rc) {
        fprintf(stderr, "ustack: --%s %s: %s\n", name, value,
                rc == -ERANGE ? "out of range" : "not a valid value");
        *status = 2;
        return -1;
    }
    *cfg = probe;
    return eq ? 1 : 2;
}

int tool_config_args(struct ust_config *cfg, int *argc, char **argv)
{
    int out = 1, status = 0;
    for (int i = 1; i < *argc;) {
        int used = take_option(cfg, argv, i, *argc, &status);
        if (used < 0)
            return status;
        if (used == 0) {
            argv[out++] = argv[i++];
            continue;
        }
        i += used;
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    const char *cmd = argv[1];
    if (strcmp(cmd, "echo") == 0)
        return cmd_echo(argc - 1, argv + 1);
    if (strcmp(cmd, "ping") == 0)
        return cmd_ping(argc - 1, argv + 1);
    if (strcmp(cmd, "udp-client") == 0)
        return cmd_udp_client(argc - 1, argv + 1);
    if (strcmp(cmd, "tcp-client") == 0)
        return cmd_tcp_client(argc - 1, argv + 1);
    if (strcmp(cmd, "gen") == 0)
        return cmd_gen(argc - 1, argv + 1);
    if (strcmp(cmd, "bridge") == 0)
        return cmd_bridge(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("ustack %s\n", ust_version());
        return 0;
    }
    fprintf(stderr, "ustack: unknown command \"%s\"\n", cmd);
    return usage(stderr, 2);
}
