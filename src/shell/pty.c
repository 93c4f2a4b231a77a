/* WINRS_CONSOLEMODE_STDIN: the command's stdin is a pseudo-terminal, as a
 * Windows command under winrs has a console for its input. Only stdin: a
 * Windows console command's stdout and stderr stay pipes, two streams, and
 * so do ours (a pty's output would be one stream, with CRs added).
 *
 * The terminal passes the client's bytes as they are (raw mode: no line
 * editing, no signal characters, no CR translation), because the clients
 * that ask for console mode (pywinrm, the Go client, winrs) also pipe data,
 * binary data included, through it; ^C comes as the Signal message. No
 * echo: Windows never sends back a console's echo (it goes to the
 * console's screen, which no client sees); the client echoes locally what
 * its user types (winrs -noecho turns that off). End of input is told as a
 * terminal tells it, ^D at the start of a line (shell__tty_eof). */
#include "engine_internal.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* A step of shell__tty_eof that failed is tried again this much later;
 * ^D is repeated at most this far apart while the command runs. */
#define EOF_RETRY_MS 100
#define EOF_REPEAT_MS 2000

/* fd moved above 2 (the child dup3s onto 0-2), close-on-exec. */
static int above2(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

int shell__pty_open(int chown_to, uid_t uid, int *master, int *slave)
{
    *master = *slave = -1;
    int mfd = above2(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
    if (mfd < 0)
        return -1;
    char name[128];
    if (grantpt(mfd) < 0 || unlockpt(mfd) < 0 || ptsname_r(mfd, name, sizeof(name)) != 0)
        goto fail;
    int sfd = above2(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (sfd < 0)
        goto fail;
    struct termios t;
    if (tcgetattr(sfd, &t) < 0)
        goto fail_s;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON |
                             IXOFF | IUTF8);
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ICANON | ISIG | IEXTEN);
    t.c_cflag = (t.c_cflag & ~(tcflag_t)(CSIZE | PARENB)) | CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(sfd, TCSANOW, &t) < 0)
        goto fail_s;
    /* Its owner may use it as a login's terminal is used (/dev/tty,
     * stty). */
    if (chown_to && fchown(sfd, uid, (gid_t)-1) < 0)
        goto fail_s;
    *master = mfd;
    *slave = sfd;
    return 0;
fail_s:
    close(sfd);
fail:
    close(mfd);
    return -1;
}

int shell__tty_eof(int master, pid_t pid, int *state)
{
    /* The terminal's side of the pair, to look at and set its mode (a
     * master's termios are its own). Failing, the step is tried again
     * later: an end of input that is never told hangs the command. */
    int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (peer < 0)
        return EOF_RETRY_MS;
    int n = 0, r = 10;
    struct termios t;
    switch (*state) {
    case 0: /* is everything read? */
    case 1:
        if (ioctl(peer, FIONREAD, &n) < 0)
            r = EOF_RETRY_MS;
        else if (n > 0)
            *state = 0; /* not yet */
        else
            /* Empty twice, 10 ms apart: bytes just written may still be
             * on their way to the line discipline the first time. */
            (*state)++;
        break;
    case 2:
        /* Canonical mode, every special character off but VEOF, so that
         * ^D is end of file. A read already waiting keeps the raw mode's
         * "at least one byte" and would not return 0: stopping and
         * continuing the command restarts it in the new mode. */
        if (tcgetattr(peer, &t) < 0) {
            r = EOF_RETRY_MS;
            break;
        }
        for (int i = 0; i < NCCS; i++)
            t.c_cc[i] = _POSIX_VDISABLE;
        t.c_cc[VEOF] = 4;
        t.c_lflag |= ICANON;
        t.c_lflag &= ~(tcflag_t)(ISIG | IEXTEN);
        if (tcsetattr(peer, TCSANOW, &t) < 0) {
            r = EOF_RETRY_MS;
            break;
        }
        shell__proc_kill(pid, SIGSTOP);
        shell__proc_kill(pid, SIGCONT);
        (*state)++;
        break;
    default:
        /* ^D, 10 ms apart, then again and again, further apart each time
         * (to EOF_REPEAT_MS) as long as the command runs: a read
         * restarted late may have missed the first, and a reader that
         * asks again after end of file gets it again, as from a pipe. A
         * ^D nobody reads only takes a place in the terminal's queue (a
         * full queue refuses it: nothing lost). Once in the second round
         * the command is stopped and continued, so that a read started
         * in raw mode is restarted in canonical mode. */
        if (write(master, "\x04", 1) != 1 && errno != EAGAIN) {
            r = EOF_RETRY_MS;
            break;
        }
        if (*state == 4) {
            shell__proc_kill(pid, SIGSTOP);
            shell__proc_kill(pid, SIGCONT);
        }
        if (*state >= 5) {
            long d = 50L << (*state - 5 < 6 ? *state - 5 : 6);
            r = d < EOF_REPEAT_MS ? (int)d : EOF_REPEAT_MS;
        }
        if (*state < 100)
            (*state)++;
        break;
    }
    close(peer);
    return r;
}
