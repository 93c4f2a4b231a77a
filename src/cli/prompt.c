/* The password prompt of winrm and winrs: -u: without -p: (nor
 * WSM_PASSWORD) asks on the terminal, as Windows' tools do, rather than
 * failing or making the user put the password on the command line (where
 * ps and the shell history see it). */
#include "prompt.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t saved_fd = -1;
static struct termios saved_tio;

/* Puts the terminal back, then dies of the signal as if nothing had
 * caught it (tcsetattr and write are async-signal-safe). */
static void restore_and_die(int sig)
{
    if (saved_fd >= 0) {
        tcsetattr(saved_fd, TCSANOW, &saved_tio);
        ssize_t w = write(saved_fd, "\n", 1);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line from fd into buf, without its end of line. */
static int read_line(int fd, char *buf, size_t n)
{
    size_t l = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0)
            return r == 0 && l ? 0 : -1;
        if (ch == '\n' || ch == '\r')
            break;
        if (l + 1 >= n)
            return -1; /* longer than any password we send */
        buf[l++] = ch;
    }
    buf[l] = '\0';
    return 0;
}

int cli_want_password(enum wsm_auth a, const char *user, const char *pass)
{
    /* Kerberos and Negotiate without a password use the ticket cache,
     * certificates need none: only these two always need one. */
    return !pass && user && (a == WSM_AUTH_BASIC || a == WSM_AUTH_NTLM);
}

int cli_ask_password(const char *tool, const char *user, const char *url, char *buf, size_t n)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int own = fd >= 0;
    if (!own) {
        if (!isatty(STDIN_FILENO))
            return -1; /* nobody to ask: the usual "needs -p:" message */
        fd = STDIN_FILENO;
    }
    int out = own ? fd : STDERR_FILENO;
    struct termios old, quiet;
    int have = tcgetattr(fd, &old) == 0;
    if (have) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
    }
    /* Ctrl-C (or a kill) at the prompt ends the tool as usual, but not
     * with the terminal left without echo. */
    struct sigaction sa, old_int, old_term, old_quit;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_and_die;
    sigemptyset(&sa.sa_mask);
    saved_fd = have ? fd : -1;
    if (have)
        saved_tio = old;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGQUIT, &sa, &old_quit);
    char prompt[600];
    int pl = snprintf(prompt, sizeof(prompt), "Password for %s at %s: ", user, url);
    if (pl < 0)
        pl = 0;
    if ((size_t)pl >= sizeof(prompt))
        pl = (int)sizeof(prompt) - 1;
    /* Echo off before the prompt shows: what is typed once it shows must
     * never appear. */
    if (have)
        tcsetattr(fd, TCSAFLUSH, &quiet);
    ssize_t w = write(out, prompt, (size_t)pl);
    int rc = read_line(fd, buf, n);
    if (have)
        tcsetattr(fd, TCSAFLUSH, &old);
    w = write(out, "\n", 1);
    (void)w;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    saved_fd = -1;
    if (own)
        close(fd);
    if (rc != 0 || !*buf) {
        explicit_bzero(buf, n);
        fprintf(stderr, "%s: no password given\n", tool);
        return -2;
    }
    return 0;
}
