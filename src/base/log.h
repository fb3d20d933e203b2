/*
 * Logging to stderr with a level threshold.
 *
 * The threshold comes from the UST_LOG environment variable (error, warn, info, debug; default
 * warn) at load time, or from ust_log_set_level(). A message below the threshold costs one
 * compare: arguments are not evaluated. Never log per packet above debug level.
 */
#ifndef UST_BASE_LOG_H
#define UST_BASE_LOG_H

enum ust_log_level {
    UST_LOG_ERROR = 0,
    UST_LOG_WARN = 1,
    UST_LOG_INFO = 2,
    UST_LOG_DEBUG = 3,
};

extern int ust_log_threshold;

#define ust_log(level, ...)                                                         \
    do {                                                                            \
        if ((int)(level) <= ust_log_threshold)                                      \
            ust_log_write((level), __VA_ARGS__);                                    \
    } while (0)

#define ust_debug(...) ust_log(UST_LOG_DEBUG, __VA_ARGS__)

void ust_log_write(enum ust_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ust_log_set_level(enum ust_log_level level);
/* Parses "error", "warn", "info" or "debug". Returns the level, or -1 if unknown. */
int ust_log_parse_level(const char *name);

#endif
