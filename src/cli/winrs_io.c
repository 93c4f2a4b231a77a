/* winrs's threads and callbacks that move bytes, apart from the main
 * thread's control flow in winrs.c: the Receive callbacks writing our
 * stdout and stderr, the stdin thread forwarding our stdin with Send, and
 * the signal thread turning Ctrl-C into the command's signals (the design
 * is in winrs.c's opening comment). Separate so that winrs.c holds the
 * switches and the shell's life, and this file what runs beside it. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultfmt.h"
#include "winrs_priv.h"
#include "wsm/wsm.h"

#define STDIN_CHUNK (96 * 1024)
/* WSManFault code of the QuotaLimit fault (ERROR_WSMAN_QUOTA_LIMIT). */
#define FAULT_QUOTA 2150858815UL

/* ---- output -------------------------------------------------------- */

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (fd == STDOUT_FILENO) {
                pthread_mutex_lock(&winrs_ctl.mu);
                winrs_ctl.out_broken = 1;
                pthread_mutex_unlock(&winrs_ctl.mu);
            }
            return;
        }
        c += w;
        n -= (size_t)w;
    }
}

void winrs_on_stdout(void *ud, const void *p, size_t n)
{
    (void)ud;
    write_all(STDOUT_FILENO, p, n);
}

void winrs_on_stderr(void *ud, const void *p, size_t n)
{
    (void)ud;
    write_all(STDERR_FILENO, p, n);
}

void winrs_report(const char *what, wsm_session *s, enum wsm_err e)
{
    const char *detail = s ? wsm_session_error(s) : "";
    if (e == WSM_ERR_FAULT && s) {
        /* As winrs.exe prints a fault: its message, no internals. */
        char msg[1024];
        const char *colon = strncmp(detail, "fault ", 6) == 0 ? strstr(detail, ": ") : NULL;
        cli_fault_message(wsm_session_fault(s), colon ? colon + 2 : detail, msg, sizeof(msg));
        fprintf(stderr, "Winrs error:%s\n", msg);
        return;
    }
    if (detail && *detail)
        fprintf(stderr, "winrs: %s: %s: %s\n", what, wsm_strerror(e), detail);
    else
        fprintf(stderr, "winrs: %s: %s\n", what, wsm_strerror(e));
}

/* ---- stdin --------------------------------------------------------- */

/* The main thread is done with the command (quiet: or the user wants out,
 * so that a failing Send is no news). */
static int stop_stdin(int quiet)
{
    pthread_mutex_lock(&winrs_ctl.mu);
    int r = winrs_ctl.finished || winrs_ctl.killed || (quiet && winrs_ctl.nint);
    pthread_mutex_unlock(&winrs_ctl.mu);
    return r;
}

void *winrs_stdin_main(void *arg)
{
    wsm_shell *sh = arg;
    char *buf = malloc(STDIN_CHUNK);
    const char *cmd = winrs_ctl.command_id;
    int end = 0;

    while (!end) {
        size_t len = 0;
        if (!buf) {
            end = 1; /* no memory: at least let the command see EOF */
        } else {
            /* Block for the first bytes, then take what is ready at once,
             * so that a pipe's last bytes and its EOF go in one Send. */
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            int wait_ms = -1;
            while (len < STDIN_CHUNK) {
                if (wait_ms == 0 && poll(&pfd, 1, 0) <= 0)
                    break;
                ssize_t n = read(STDIN_FILENO, buf + len, STDIN_CHUNK - len);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    end = 1; /* EOF, or stdin unusable (closed fd) */
                    break;
                }
                len += (size_t)n;
                wait_ms = 0;
            }
        }
        enum wsm_err e;
        long pause_ms = 10;
        /* The service buffers a bounded amount of stdin and answers a
         * QuotaLimit fault beyond it: wait for the command to read. */
        while ((e = wsm_shell_send(sh, cmd, buf, len, end)) == WSM_ERR_FAULT &&
               wsm_session_fault_code(winrs_ctl.in_s) == FAULT_QUOTA && !stop_stdin(0)) {
            struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (pause_ms < 500)
                pause_ms *= 2;
        }
        if (e) {
            /* After the command ends a Send fails: that is no news, and
             * the main thread is about to finish. Otherwise say so. */
            if (e == WSM_ERR_FAULT) {
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
            }
            if (!stop_stdin(1))
                winrs_report("sending stdin", winrs_ctl.in_s, e);
            break;
        }
    }
    free(buf);
    wsm_shell_free(sh);
    return NULL;
}

/* Whether stdin is known to be at its end without reading from it:
 * /dev/null, or a regular file read to its end. */
int winrs_stdin_at_end(void)
{
    struct stat st, dn;
    if (fstat(STDIN_FILENO, &st) != 0)
        return 0;
    if (S_ISCHR(st.st_mode))
        return stat("/dev/null", &dn) == 0 && S_ISCHR(dn.st_mode) && st.st_rdev == dn.st_rdev;
    if (S_ISREG(st.st_mode)) {
        off_t pos = lseek(STDIN_FILENO, 0, SEEK_CUR);
        return pos >= 0 && pos >= st.st_size;
    }
    return 0;
}

/* ---- signals ------------------------------------------------------- */

sigset_t winrs_sigs;

void *winrs_signal_main(void *arg)
{
    wsm_shell *sh = NULL;
    (void)arg;
    for (;;) {
        int sig;
        if (sigwait(&winrs_sigs, &sig) != 0)
            continue;
        pthread_mutex_lock(&winrs_ctl.mu);
        int n = 0;
        if (!winrs_ctl.finished) {
            if (sig == SIGINT)
                n = ++winrs_ctl.nint;
            else
                winrs_ctl.killed = sig;
        }
        const char *shell_id = winrs_ctl.shell_id, *cmd = winrs_ctl.command_id;
        int finished = winrs_ctl.finished;
        pthread_mutex_unlock(&winrs_ctl.mu);
        int status = sig == SIGINT ? EXIT_INTERRUPTED : 128 + sig;
        if (finished)
            winrs_exit(status); /* the main thread is deleting the shell */
        if (shell_id && !sh && wsm_shell_open(winrs_ctl.sig_s, shell_id, &sh) != WSM_OK)
            sh = NULL;
        if (!cmd) {
            /* Before the command runs the main thread checks nint after
             * each step; a second Ctrl-C (or SIGTERM) does not wait. */
            if (sig == SIGINT && n == 1)
                continue;
            if (sh)
                wsm_shell_delete(sh);
            winrs_exit(status);
        }
        if (!sh)
            continue;
        if (sig == SIGINT && n <= 2) {
            const char *code = n == 1 ? "ctrl_c" : "terminate";
            enum wsm_err e = wsm_shell_signal(sh, cmd, code);
            if (e)
                winrs_report(code, winrs_ctl.sig_s, e);
            continue;
        }
        /* A third Ctrl-C, SIGTERM or SIGHUP: end the command and the
         * shell from here and leave without waiting for the main thread. */
        if (sig != SIGINT)
            wsm_shell_signal(sh, cmd, "terminate");
        wsm_shell_delete(sh);
        winrs_exit(status);
    }
    return NULL;
}
