/*
 * log.h - leveled logging to stderr.
 *
 * One line per call: "<iso time> <level> <component>: message". Lines above
 * the configured level are dropped before formatting. log_ratelimited()
 * lets a call site emit at most one line per second, so a flood of bad input
 * cannot flood the log. Loop thread only (the level is process-wide config).
 */
#ifndef SIOC_COMMON_BASE_LOG_H
#define SIOC_COMMON_BASE_LOG_H

enum { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/** Sets the component name printed on each line (borrowed, must outlive logging). */
void log_set_component(const char *name);
/** Sets the maximum level printed. */
void log_set_level(int level);
/** Parses "error|warn|info|debug"; returns the level or -1. */
int log_level_parse(const char *s);
int log_enabled(int level);

void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Returns 1 at most once per second per `last` slot (a static owned by the caller). */
int log_ratelimited(long long *last);

#define log_error(...) log_printf(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_printf(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_printf(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LEVEL_DEBUG))                                                          \
            log_printf(LOG_LEVEL_DEBUG, __VA_ARGS__);                                              \
    } while (0)

#endif
