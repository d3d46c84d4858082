/*
 * log.h - structured, levelled logging: one line per event, key=value fields.
 *
 *   ts=2026-11-26T21:50:00.123Z level=info event=proxy.listen addr=127.0.0.1:6432
 *
 * Lines go to stderr or to a file (log_open_file). Every string registered with
 * log_add_secret() is replaced by "[redacted]" wherever it would appear, and
 * passwords inside URLs (scheme://user:PASSWORD@host) are always masked, so a
 * secret never reaches a log even when a caller formats it by mistake.
 *
 * The logger is process-wide configuration (level, destination, secrets); it is
 * safe to call from several threads (each line is written with one write()).
 */
#ifndef TETHER_UTIL_LOG_H
#define TETHER_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
} log_level;

/* Parses "debug", "info", "warn"/"warning", "error". Returns T_OK or T_ERR. */
int log_level_parse(const char *name, log_level *out);
const char *log_level_name(log_level level);

void log_set_level(log_level level);
log_level log_get_level(void);

/* Sends log lines to PATH (appending). Returns T_OK or T_ERR (errno kept). */
int log_open_file(const char *path);

/* Registers a secret to be redacted from every line (copied; empty ignored). */
void log_add_secret(const char *secret);

/* Forgets every registered secret, closes a log file (back to stderr). */
void log_reset(void);

/*
 * Writes one line: "ts=… level=… event=EVENT " followed by the formatted
 * key=value fields. Values containing spaces should be quoted by the caller
 * with log_quote() semantics ("%s" of a quoted value). Never fails visibly.
 */
void log_write(log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_writev(log_level level, const char *event, const char *fmt, va_list ap);

/*
 * Redacts SRC into DST (size DSTLEN): registered secrets become "[redacted]",
 * URL passwords become "***". Exposed for error messages shown to users.
 */
void log_redact(const char *src, char *dst, size_t dstlen);

#define log_debug(event, ...) log_write(LOG_LEVEL_DEBUG, event, __VA_ARGS__)
#define log_info(event, ...) log_write(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define log_warn(event, ...) log_write(LOG_LEVEL_WARN, event, __VA_ARGS__)
#define log_error(event, ...) log_write(LOG_LEVEL_ERROR, event, __VA_ARGS__)

#endif
