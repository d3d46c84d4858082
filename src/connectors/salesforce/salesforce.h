/*
 * salesforce.h - the Salesforce connector (implements connectors/connector.h).
 * Internal to src/connectors/salesforce/; the engine sees only
 * salesforce_connector_ops through connector_find("salesforce").
 *
 * The pure helpers below (names, types, time stamps, cursors, describe
 * parsing) hold no state and are unit-tested and fuzzed on their own.
 */
#ifndef TETHER_CONNECTORS_SALESFORCE_SALESFORCE_H
#define TETHER_CONNECTORS_SALESFORCE_SALESFORCE_H

#include "connectors/connector.h"

#include <stdbool.h>
#include <stdint.h>

#define SF_DEFAULT_LOGIN_URL "https://login.salesforce.com"
#define SF_DEFAULT_API_VERSION "59.0"
#define SF_PAGE_LIMIT 2000
#define SF_DEFAULT_DAILY_BUDGET 28800 /* one request every 3 s */

/*
 * Writes the snake_case form of an API name into OUT ("LastName" ->
 * "last_name", "Region__c" -> "region__c", "CreatedById" -> "created_by_id",
 * "HTMLBody" -> "html_body"). Truncates to LEN-1 bytes. Never fails.
 */
void sf_snake_case(const char *api_name, char *out, size_t len);

/*
 * Maps a describe field type ("string", "datetime", ...) to a column type.
 * Returns false for types that are not synced (base64).
 */
bool sf_field_coltype(const char *sf_type, conn_coltype *out);

/*
 * Fills COLL from one sObject describe result DESCRIBE (borrowed): table name,
 * object type and a column per synced field (Id excepted: it is the key).
 * Returns T_ERR when DESCRIBE is not an object describe.
 */
int sf_collection_from_describe(json_t *describe, conn_collection *coll);

/*
 * Parses a Salesforce date-time ("2024-01-01T00:00:00.000+0000", "...Z",
 * "+hh:mm") into unix milliseconds. T_ERR on anything else.
 */
int sf_parse_datetime(const char *s, int64_t *ms);

/* Formats unix milliseconds as a SOQL literal "2024-01-01T00:00:00.000Z". */
void sf_format_datetime(int64_t ms, char *out, size_t len);

/*
 * A backfill cursor is "<ms>|<Id>" (the last row read, in SystemModstamp, Id
 * order). Parses it; T_ERR when malformed (the id must be 15/18 alphanumerics).
 */
int sf_cursor_parse(const char *cursor, int64_t *ms, char *id, size_t idlen);

/*
 * Reads a Salesforce error body (a JSON array of {message, errorCode, fields},
 * or an OAuth {error, error_description}) into E; STATUS is the HTTP status.
 */
void sf_error_from_body(long status, json_t *body, conn_api_error *e);

#endif
