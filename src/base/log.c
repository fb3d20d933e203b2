/*
 * Logging (see log.h). One fprintf per message; stderr is unbuffered, so lines from several
 * threads do not interleave within a line.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ust_log_threshold = UST_LOG_WARN;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int ust_log_parse_level(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

__attribute__((constructor)) static void log_init_from_env(void)
{
    const char *env = getenv("UST_LOG");
    if (!env || !*env)
        return;
    int level = ust_log_parse_level(env);
    if (level < 0)
        fprintf(stderr, "ustack: UST_LOG=%s is not one of error, warn, info, debug\n", env);
    else
        ust_log_threshold = level;
}

void ust_log_set_level(enum ust_log_level level)
{
    ust_log_threshold = (int)level;
}

void ust_log_write(enum ust_log_level level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ustack %s: %s\n", level_names[level], line);
}
