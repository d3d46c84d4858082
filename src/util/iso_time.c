/*
 * iso_time.c - ISO 8601 parsing/formatting (see iso_time.h). Pure functions
 * over caller buffers.
 */
#include "util/iso_time.h"
#include "util/common.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int iso_time_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return T_ERR;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return T_OK;
}

static int iso_time_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

static int iso_time_ymd(const char *s, struct tm *tm)
{
    int y, m, d;
    if (strlen(s) < 10 || iso_time_digits(s, 4, &y) || s[4] != '-' ||
        iso_time_digits(s + 5, 2, &m) || s[7] != '-' || iso_time_digits(s + 8, 2, &d))
        return T_ERR;
    if (y < 1700 || y > 4000 || m < 1 || m > 12 || d < 1 || d > iso_time_days_in_month(y, m))
        return T_ERR;
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    return T_OK;
}

int iso_time_parse_date(const char *s)
{
    struct tm tm;
    return strlen(s) == 10 ? iso_time_ymd(s, &tm) : T_ERR;
}

int iso_time_parse(const char *s, int require_time, int64_t *ms)
{
    struct tm tm;
    if (iso_time_ymd(s, &tm) != T_OK)
        return T_ERR;
    const char *p = s + 10;
    int frac = 0, offset_min = 0;
    if (*p == '\0') {
        if (require_time)
            return T_ERR;
    } else {
        int hh, mm, ss = 0;
        if ((*p != 'T' && *p != 't' && *p != ' ') || iso_time_digits(p + 1, 2, &hh) ||
            p[3] != ':' || iso_time_digits(p + 4, 2, &mm))
            return T_ERR;
        p += 6;
        if (*p == ':') {
            if (iso_time_digits(p + 1, 2, &ss))
                return T_ERR;
            p += 3;
        }
        if (*p == '.') {
            p++;
            int n = 0;
            while (isdigit((unsigned char)*p)) {
                if (n < 3)
                    frac = frac * 10 + (*p - '0');
                n++;
                p++;
            }
            if (n == 0 || n > 9)
                return T_ERR;
            for (; n < 3; n++)
                frac *= 10;
        }
        if (hh > 23 || mm > 59 || ss > 60)
            return T_ERR;
        tm.tm_hour = hh;
        tm.tm_min = mm;
        tm.tm_sec = ss;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            if (iso_time_digits(p + 1, 2, &oh))
                return T_ERR;
            p += 3;
            if (*p == ':')
                p++;
            if (iso_time_digits(p, 2, &om) || oh > 23 || om > 59)
                return T_ERR;
            p += 2;
            offset_min = sign * (oh * 60 + om);
        } else if (require_time) {
            return T_ERR;
        }
        if (*p != '\0')
            return T_ERR;
    }
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + frac;
    return T_OK;
}

void iso_time_format_sf(int64_t ms, char *out)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)t * 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, ISO_TIME_BUFLEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

int64_t iso_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
