/* WINRS_CONSOLEMODE_STDIN: the command's stdin is a pseudo-terminal, as a
 * Windows command under winrs has a console for its input. Only stdin: a
 * Windows console command's stdout and stderr stay pipes, two streams, and
 * so do ours (a pty's output would be one stream, with CRs added).
 *
 * The terminal is in the mode of a console's input: canonical lines (read
 * returns a line at a time, ^D at the start of a line is end of file),
 * signals from ^C and ^\, and no echo: Windows never sends back a console's
 * echo (it goes to the console's screen, which no client sees), and the
 * client echoes locally what its user types (winrs -noecho turns that off).
 * CR is ignored, so the CR LF lines of a Windows client are plain lines. */
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

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
    t.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IXON | IXOFF);
    t.c_iflag |= IGNCR;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL);
    t.c_lflag |= ICANON | ISIG;
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
