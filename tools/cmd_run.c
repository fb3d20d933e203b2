/*
 * ustack run [OPTIONS] -- CMD [ARGS]: runs an unmodified, dynamically linked program on ustack.
 *
 * It puts the stack's options into the environment (UST_<NAME>, the same variables the library
 * reads), adds libustack-preload.so to LD_PRELOAD and execs CMD. The program's process (and any
 * program it execs) then makes one stack from that environment on its first AF_INET socket; see
 * preload/README.md for what goes to ustack and what stays with the kernel.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ustack.h"

#ifndef UST_INSTALL_LIBDIR
#define UST_INSTALL_LIBDIR "/usr/local/lib"
#endif

static int run_usage(FILE *f, int status)
{
    fprintf(f,
            "usage: ustack run [OPTIONS] -- CMD [ARGS...]\n\n"
            "Runs CMD with its AF_INET sockets on a ustack stack (LD_PRELOAD shim).\n\n"
            "  --NAME=VALUE | --NAME VALUE  any stack option (ustack help config), e.g.\n"
            "                    --link tap:ust0 --addr 198.18.0.2/24 --gw 198.18.0.1\n"
            "                    (UST_<NAME> environment variables are used too; a config\n"
            "                    file overrides them, the command line overrides both)\n"
            "  --config FILE     read NAME=VALUE lines (# comments) before the command line\n"
            "  --bind-any WHERE  where sockets bound to 0.0.0.0 (and unbound listeners) go:\n"
            "                    ustack (default) or kernel  [UST_BIND_ANY]\n"
            "  --no-bottom-half  no background thread moving the stack while the program\n"
            "                    computes (it is on by default)  [UST_BOTTOM_HALF=0]\n"
            "  --exit-linger-ms N  at exit, how long closed connections may still take to\n"
            "                    deliver what they hold (default 2000)  [UST_EXIT_LINGER_MS]\n"
            "  --preload-lib PATH  the shim to use  [UST_PRELOAD_LIB]\n\n"
            "Logging: --log debug (UST_LOG=debug) shows each socket's decision.\n"
            "TCP and UDP sockets whose address is on the stack's network (or reached through\n"
            "--gw) use ustack; everything else (AF_UNIX, IPv6, loopback, other networks) the\n"
            "kernel. A socket that cannot be made a ustack socket falls back to the kernel, and\n"
            "the log says why.\n");
    return status;
}

/* Sets UST_<NAME>=value after checking it against the option table. 0 or 2. */
static int set_option(const char *name_in, const char *value)
{
    char name[64];
    size_t len = strlen(name_in);
    if (len == 0 || len >= sizeof(name))
        return -ENOENT;
    for (size_t i = 0; i <= len; i++)
        name[i] = name_in[i] == '-' ? '_' : name_in[i];
    struct ust_config probe;
    ust_config_defaults(&probe);
    int rc = ust_config_set(&probe, name, value);
    if (rc == -ENOENT)
        return rc;
    if (rc) {
        fprintf(stderr, "ustack run: %s=%s: %s\n", name, value,
                rc == -ERANGE ? "out of range" : "not a valid value");
        return 2;
    }
    char var[80] = "UST_";
    for (size_t i = 0; name[i] && i + 5 < sizeof(var); i++)
        var[4 + i] = (char)toupper((unsigned char)name[i]);
    setenv(var, value, 1);
    return 0;
}

static int read_config_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ustack run: %s: %s\n", path, strerror(errno));
        return 2;
    }
    char line[512];
    int lineno = 0, status = 0;
    while (!status && fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = 0;
        if (!*p || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "ustack run: %s:%d: expected NAME=VALUE\n", path, lineno);
            status = 2;
            break;
        }
        *eq = 0;
        char *name = p, *value = eq + 1;
        for (char *e = eq - 1; e >= name && isspace((unsigned char)*e); e--)
            *e = 0;
        while (isspace((unsigned char)*value))
            value++;
        int rc = set_option(name, value);
        if (rc == -ENOENT) {
            fprintf(stderr, "ustack run: %s:%d: unknown option \"%s\"\n", path, lineno, name);
            status = 2;
        } else if (rc) {
            status = rc;
        }
    }
    fclose(f);
    return status;
}

/* The shim: UST_PRELOAD_LIB, else beside this program in the build tree, else installed. */
static const char *find_lib(char *buf, size_t cap)
{
    const char *env = getenv("UST_PRELOAD_LIB");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char rel[PATH_MAX + 64];
            snprintf(rel, sizeof(rel), "%s/../preload/libustack-preload.so", exe);
            if (access(rel, R_OK) == 0 && realpath(rel, buf))
                return buf;
        }
    }
    snprintf(buf, cap, "%s/libustack-preload.so", UST_INSTALL_LIBDIR);
    return buf;
}

static const char *opt_value(int argc, char **argv, int *i, const char *opt)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (strcmp(argv[*i], opt) == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* An option of the config table given as --name=value or --name value (argv[*i]; *i moves
 * past a separate value). 0 if taken, -ENOENT if it is no such option, else set_option's
 * status. */
static int table_option(int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0)
        return -ENOENT;
    const char *eq = strchr(a + 2, '=');
    char name[64];
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (!len || len >= sizeof(name))
        return -ENOENT;
    memcpy(name, a + 2, len);
    name[len] = 0;
    const char *value = eq ? eq + 1 : (*i + 1 < argc ? argv[*i + 1] : NULL);
    int rc = value ? set_option(name, value) : -ENOENT;
    if (rc == 0 && !eq)
        (*i)++;
    return rc;
}

/* Runs cmd with lib first in LD_PRELOAD (ahead of any the environment has). Returns only on
 * failure, with the shell's status for it. */
static int exec_preloaded(const char *lib, char **cmd)
{
    const char *old = getenv("LD_PRELOAD");
    char *pre = NULL;
    if (old && *old) {
        size_t n = strlen(lib) + strlen(old) + 2;
        pre = malloc(n);
        if (!pre)
            return 1;
        snprintf(pre, n, "%s:%s", lib, old);
    }
    setenv("LD_PRELOAD", pre ? pre : lib, 1);
    execvp(cmd[0], cmd);
    int err = errno;
    fprintf(stderr, "ustack run: %s: %s\n", cmd[0], strerror(err));
    free(pre);
    return err == ENOENT ? 127 : 126;
}

int cmd_run(int argc, char **argv)
{
    char libbuf[PATH_MAX + 64];   /* realpath needs PATH_MAX */
    const char *lib = NULL;
    int i = 1;
    /* The config file first, so the command line wins over it. */
    for (int j = 1; j < argc && strcmp(argv[j], "--") != 0; j++) {
        const char *v = opt_value(argc, argv, &j, "--config");
        if (v && read_config_file(v))
            return 2;
    }
    setenv("UST_BOTTOM_HALF", "1", 0);
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return run_usage(stdout, 0);
        if ((v = opt_value(argc, argv, &i, "--config")) != NULL)
            continue;
        if (strcmp(a, "--no-bottom-half") == 0) {
            setenv("UST_BOTTOM_HALF", "0", 1);
            continue;
        }
        if ((v = opt_value(argc, argv, &i, "--bind-any")) != NULL) {
            if (strcmp(v, "ustack") != 0 && strcmp(v, "kernel") != 0) {
                fprintf(stderr, "ustack run: --bind-any is ustack or kernel\n");
                return 2;
            }
            setenv("UST_BIND_ANY", v, 1);
            continue;
        }
        if ((v = opt_value(argc, argv, &i, "--exit-linger-ms")) != NULL) {
            unsigned long ms;
            if (tool_parse_uint(v, 3600000, &ms) != 0) {
                fprintf(stderr, "ustack run: --exit-linger-ms: a number of milliseconds\n");
                return 2;
            }
            setenv("UST_EXIT_LINGER_MS", v, 1);
            continue;
        }
        if ((v = opt_value(argc, argv, &i, "--preload-lib")) != NULL) {
            lib = v;
            continue;
        }
        int rc = table_option(argc, argv, &i);
        if (rc == 0)
            continue;
        if (rc != -ENOENT)
            return rc;
        fprintf(stderr, "ustack run: unknown option \"%s\" (ustack run --help)\n", a);
        return 2;
    }
    if (i >= argc - 1) {
        fprintf(stderr, "ustack run: no command (ustack run [OPTIONS] -- CMD [ARGS])\n");
        return run_usage(stderr, 2);
    }
    if (!lib)
        lib = find_lib(libbuf, sizeof(libbuf));
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "ustack run: %s: %s\n", lib, strerror(errno));
        return 1;
    }
    return exec_preloaded(lib, argv + i + 1);
}
