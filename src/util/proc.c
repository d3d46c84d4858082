/*
 * proc.c - child process helpers declared in proc.h. No memory is allocated
 * in the parent; the child switches user and redirects output before exec.
 */
#include "util/proc.h"
#include "util/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In the child: redirect output, drop privileges, exec. Never returns. */
static void child_exec(char *const argv[], const char *log_path, const char *run_as)
{
    setpgid(0, 0); /* Ctrl-C goes to the parent, which stops children in order */
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    if (run_as) {
        struct passwd *pw = getpwnam(run_as);
        if (!pw || initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
            setuid(pw->pw_uid) != 0) {
            fprintf(stderr, "cannot switch to user %s\n", run_as);
            _exit(126);
        }
        setenv("HOME", pw->pw_dir, 1);
        setenv("USER", pw->pw_name, 1);
    }
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t proc_spawn(proc_group *group, const char *name, char *const argv[], const char *log_path,
                 const char *run_as)
{
    if (group->n >= PROC_MAX) {
        errno = EMFILE;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        child_exec(argv, log_path, run_as);
    group->procs[group->n].pid = pid;
    snprintf(group->procs[group->n].name, sizeof(group->procs[group->n].name), "%s", name);
    group->n++;
    return pid;
}

int proc_run(char *const argv[], const char *log_path, const char *run_as)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        child_exec(argv, log_path, run_as);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int proc_wait_port(const char *host, int port, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return T_ERR;
    do {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return T_ERR;
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok)
            return T_OK;
        struct timespec pause = {0, 50 * 1000000L};
        nanosleep(&pause, NULL);
    } while (now_ms() < deadline);
    return T_ERR;
}

int proc_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int proc_reap(proc_group *group, char *name, size_t len, int *status)
{
    for (int i = 0; i < group->n; i++) {
        int st;
        if (waitpid(group->procs[i].pid, &st, WNOHANG) == group->procs[i].pid) {
            snprintf(name, len, "%s", group->procs[i].name);
            if (status)
                *status = st;
            group->procs[i] = group->procs[--group->n];
            return 1;
        }
    }
    return 0;
}

void proc_stop_all(proc_group *group, int grace_ms)
{
    for (int i = group->n - 1; i >= 0; i--) {
        pid_t pid = group->procs[i].pid;
        kill(pid, SIGTERM);
        long deadline = now_ms() + grace_ms;
        int st;
        while (waitpid(pid, &st, WNOHANG) == 0) {
            if (now_ms() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
                break;
            }
            struct timespec pause = {0, 20 * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    group->n = 0;
}
