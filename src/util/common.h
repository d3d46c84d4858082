/*
 * common.h - conventions shared by every Tether module.
 *
 * Functions that can fail return T_OK or T_ERR (Redis's C_OK/C_ERR habit) and,
 * where the caller needs to know why, fill a caller-owned error buffer of
 * T_ERRBUF_SIZE bytes. Nothing here allocates.
 */
#ifndef TETHER_UTIL_COMMON_H
#define TETHER_UTIL_COMMON_H

#include <stddef.h>

#define T_OK 0
#define T_ERR -1

#define T_ERRBUF_SIZE 512

#define T_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Process exit codes: 0 success, 1 runtime failure, 2 usage error. */
#define T_EXIT_OK 0
#define T_EXIT_FAILURE 1
#define T_EXIT_USAGE 2

#endif
