/* Between winrs.c (switches, the shell's life, the Receive loop) and
 * winrs_io.c (the threads and callbacks moving bytes: output, stdin,
 * signals): the state they share and the calls between them. */
#ifndef WSMD_CLI_WINRS_PRIV_H
#define WSMD_CLI_WINRS_PRIV_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "wsm/wsm.h"

#define EXIT_INTERRUPTED 130

/* What the main, stdin and signal threads know of each other (mu). */
struct winrs_ctl {
    pthread_mutex_t mu;
    wsm_session *main_s, *in_s, *sig_s;
    char *shell_id;   /* set once the shell exists */
    char *command_id; /* set once the command runs */
    int nint;         /* SIGINTs seen */
    int killed;       /* SIGTERM or SIGHUP seen */
    int finished;     /* the main thread is done with the command */
    int out_broken;   /* writing our stdout failed (EPIPE) */
};
extern struct winrs_ctl winrs_ctl;
/* The signals the signal thread takes (blocked in every thread). */
extern sigset_t winrs_sigs;

/* Leaves at once with rc, the terminal's echo put back (-noecho). */
__attribute__((noreturn)) void winrs_exit(int rc);

/* winrs_io.c: the Receive callbacks writing our stdout and stderr. */
void winrs_on_stdout(void *ud, const void *p, size_t n);
void winrs_on_stderr(void *ud, const void *p, size_t n);
/* A failed step on stderr, a fault as winrs.exe prints it. */
void winrs_report(const char *what, wsm_session *s, enum wsm_err e);
/* The stdin thread (arg: its wsm_shell, freed at the end). */
void *winrs_stdin_main(void *arg);
/* Whether stdin is /dev/null or a regular file read to its end. */
int winrs_stdin_at_end(void);
/* The signal thread: Ctrl-C to ctrl_c, then terminate, then out. */
void *winrs_signal_main(void *arg);

#endif
