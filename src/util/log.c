/*
 * log.c - the structured logger declared in log.h.
 *
 * Memory: secrets are copied into a small fixed table owned by this file and
 * freed by log_reset(); each line is formatted into a stack buffer, so logging
 * never allocates on the hot path.
 */
#include "util/log.h"
#include "util/common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_MAX_SECRETS 64

static struct {
    log_level level;
    int fd;
    char *secrets[LOG_MAX_SECRETS];
    size_t nsecrets;
    pthread_mutex_t lock;
} logger = {LOG_LEVEL_INFO, STDERR_FILENO, {0}, 0, PTHREAD_MUTEX_INITIALIZER};

static const char *level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *name, log_level *out)
{
    if (!name)
        return T_ERR;
    for (size_t i = 0; i < T_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (log_level)i;
            return T_OK;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return T_OK;
    }
    return T_ERR;
}

const char *log_level_name(log_level level)
{
    if ((int)level < 0 || (size_t)level >= T_ARRAY_LEN(level_names))
        return "unknown";
    return level_names[level];
}

void log_set_level(log_level level)
{
    logger.level = level;
}

log_level log_get_level(void)
{
    return logger.level;
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return T_ERR;
    pthread_mutex_lock(&logger.lock);
    if (logger.fd != STDERR_FILENO)
        close(logger.fd);
    logger.fd = fd;
    pthread_mutex_unlock(&logger.lock);
    return T_OK;
}

void log_add_secret(const char *secret)
{
    if (!secret || !*secret)
        return;
    pthread_mutex_lock(&logger.lock);
    for (size_t i = 0; i < logger.nsecrets; i++) {
        if (strcmp(logger.secrets[i], secret) == 0) {
            pthread_mutex_unlock(&logger.lock);
            return;
        }
    }
    if (logger.nsecrets < LOG_MAX_SECRETS) {
        char *copy = strdup(secret);
        if (copy)
            logger.secrets[logger.nsecrets++] = copy;
    }
    pthread_mutex_unlock(&logger.lock);
}

void log_reset(void)
{
    pthread_mutex_lock(&logger.lock);
    for (size_t i = 0; i < logger.nsecrets; i++)
        free(logger.secrets[i]);
    logger.nsecrets = 0;
    if (logger.fd != STDERR_FILENO)
        close(logger.fd);
    logger.fd = STDERR_FILENO;
    logger.level = LOG_LEVEL_INFO;
    pthread_mutex_unlock(&logger.lock);
}

/* Appends at most N bytes of S to DST (used LEN, capacity CAP); keeps NUL. */
static void append(char *dst, size_t *len, size_t cap, const char *s, size_t n)
{
    if (*len + 1 >= cap)
        return;
    size_t room = cap - 1 - *len;
    if (n > room)
        n = room;
    memcpy(dst + *len, s, n);
    *len += n;
    dst[*len] = '\0';
}

/* Length of the longest registered secret matching at P, or 0. Lock held. */
static size_t secret_match(const char *p)
{
    size_t best = 0;
    for (size_t i = 0; i < logger.nsecrets; i++) {
        size_t n = strlen(logger.secrets[i]);
        if (n > best && strncmp(p, logger.secrets[i], n) == 0)
            best = n;
    }
    return best;
}

/*
 * If P starts a "://user:password@" section, returns the length of the
 * password part and sets *skip to the bytes before it ("://user:"). Else 0.
 */
static size_t url_password_at(const char *p, size_t *skip)
{
    if (strncmp(p, "://", 3) != 0)
        return 0;
    const char *q = p + 3;
    const char *colon = NULL;
    for (; *q && *q != '@' && *q != '/' && *q != ' ' && *q != '"'; q++) {
        if (*q == ':' && !colon)
            colon = q;
    }
    if (*q != '@' || !colon)
        return 0;
    *skip = (size_t)(colon + 1 - p);
    return (size_t)(q - (colon + 1));
}

static void redact_locked(const char *src, char *dst, size_t dstlen)
{
    size_t len = 0;
    if (dstlen == 0)
        return;
    dst[0] = '\0';
    for (const char *p = src; *p;) {
        size_t n = secret_match(p);
        if (n > 0) {
            append(dst, &len, dstlen, "[redacted]", 10);
            p += n;
            continue;
        }
        size_t skip = 0;
        size_t pw = url_password_at(p, &skip);
        if (pw > 0) {
            append(dst, &len, dstlen, p, skip);
            append(dst, &len, dstlen, "***", 3);
            p += skip + pw;
            continue;
        }
        append(dst, &len, dstlen, p, 1);
        p++;
    }
}

void log_redact(const char *src, char *dst, size_t dstlen)
{
    pthread_mutex_lock(&logger.lock);
    redact_locked(src, dst, dstlen);
    pthread_mutex_unlock(&logger.lock);
}

void log_writev(log_level level, const char *event, const char *fmt, va_list ap)
{
    if (level < logger.level)
        return;
    char raw[LOG_LINE_MAX];
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(raw, sizeof(raw), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), log_level_name(level), event);
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1;
    if (fmt && *fmt && used + 2 < sizeof(raw)) {
        raw[used++] = ' ';
        raw[used] = '\0';
        vsnprintf(raw + used, sizeof(raw) - used, fmt, ap);
    }
    pthread_mutex_lock(&logger.lock);
    redact_locked(raw, line, sizeof(line) - 1);
    size_t ll = strlen(line);
    line[ll++] = '\n';
    ssize_t w = write(logger.fd, line, ll);
    (void)w;
    pthread_mutex_unlock(&logger.lock);
}

void log_write(log_level level, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_writev(level, event, fmt, ap);
    va_end(ap);
}
