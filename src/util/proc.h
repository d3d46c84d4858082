/*
 * proc.h - child processes for orchestration (`tether demo`): spawn a command
 * with its output sent to a log file, optionally as another OS user, wait for a
 * TCP port, and stop children in reverse order.
 *
 * Memory: a proc_group is caller-owned (usually on the stack); it stores only
 * pids and copies of short names.
 */
#ifndef TETHER_UTIL_PROC_H
#define TETHER_UTIL_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#define PROC_MAX 16

typedef struct proc_group {
    struct {
        pid_t pid;
        char name[32];
    } procs[PROC_MAX];
    int n;
} proc_group;

/*
 * Starts ARGV (NULL-ended; argv[0] is looked up in PATH unless it has a '/')
 * with stdout and stderr appended to LOG_PATH (NULL: inherited), as OS user
 * RUN_AS (NULL: the current user; needs root), and records it in GROUP under
 * NAME. Returns the pid, or -1 with errno set.
 */
pid_t proc_spawn(proc_group *group, const char *name, char *const argv[], const char *log_path,
                 const char *run_as);

/*
 * Runs ARGV to completion like proc_spawn (not recorded in a group). Returns
 * its exit status (0..255), or -1 if it could not be started or was killed.
 */
int proc_run(char *const argv[], const char *log_path, const char *run_as);

/* Waits up to TIMEOUT_MS for HOST:PORT to accept a TCP connection. T_OK/T_ERR. */
int proc_wait_port(const char *host, int port, int timeout_ms);

/* Returns a TCP port on 127.0.0.1 that was free a moment ago, or -1. */
int proc_free_port(void);

/*
 * If a child of GROUP exited, copies its name into NAME (size LEN), its wait
 * status into *STATUS, removes it from GROUP and returns 1; else returns 0.
 * Never blocks.
 */
int proc_reap(proc_group *group, char *name, size_t len, int *status);

/* Sends SIGTERM to every child, newest first, waits up to GRACE_MS each, then SIGKILL. */
void proc_stop_all(proc_group *group, int grace_ms);

#endif
