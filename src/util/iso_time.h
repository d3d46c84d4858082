/*
 * iso_time.h - ISO 8601 date/time text shared by the Salesforce emulator and
 * the Salesforce connector: parsing literals as SOQL and the REST API accept
 * and return them, and formatting milliseconds since the epoch the way
 * Salesforce prints them ("2024-01-01T00:00:00.000+0000"). Pure functions
 * over caller buffers; no allocation.
 */
#ifndef TETHER_UTIL_ISO_TIME_H
#define TETHER_UTIL_ISO_TIME_H

#include <stddef.h>
#include <stdint.h>

#define ISO_TIME_BUFLEN 64

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|+HHMM)" (REQUIRE_TIME=1) or also
 * a bare "YYYY-MM-DD" (REQUIRE_TIME=0, midnight UTC) into *MS. The whole
 * string must match. Returns T_OK or T_ERR.
 */
int iso_time_parse(const char *s, int require_time, int64_t *ms);

/* Parses exactly "YYYY-MM-DD" with a valid calendar date. T_OK or T_ERR. */
int iso_time_parse_date(const char *s);

/* Formats MS into OUT (ISO_TIME_BUFLEN bytes) as Salesforce does. */
void iso_time_format_sf(int64_t ms, char *out);

/* Wall clock in milliseconds since the epoch. */
int64_t iso_time_now_ms(void);

#endif
