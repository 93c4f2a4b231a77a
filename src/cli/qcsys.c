/* winrm quickconfig: the programs it runs (wsmd__qc_systemctl), and the running
 * wsmd that reads the configuration file when systemd is not there
 * (found in /proc, then waited for to listen). quickconfig.c runs the
 * stages (qc_priv.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cfgfile.h"
#include "format.h"
#include "qccert.h"
#include "qc_priv.h"

/* ---- running programs ---------------------------------------------------- */

/* The systemctl to run: $SYSTEMCTL (tests point it at a script), or
 * systemctl when systemd is the service manager; NULL without it. */
const char *wsmd__qc_systemctl(void)
{
    const char *s = getenv("SYSTEMCTL");
    if (s && *s)
        return s;
    return access("/run/systemd/system", F_OK) == 0 ? "systemctl" : NULL;
}

/* Runs argv (PATH searched) with its output on out (NULL: discarded);
 * its exit status, or -1. */
int wsmd__qc_run(const char *const *argv, char *out, size_t outn)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    char buf[512];
    ssize_t r;
    while ((r = read(p[0], buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR)) {
        if (r <= 0)
            continue;
        if (out && got + 1 < outn) {
            size_t c = (size_t)r < outn - 1 - got ? (size_t)r : outn - 1 - got;
            memcpy(out + got, buf, c);
            got += c;
        }
    }
    if (out && outn)
        out[got] = '\0';
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int wsmd__qc_sysctl(const char *verb)
{
    const char *argv[] = {wsmd__qc_systemctl(), verb, UNIT, NULL};
    return wsmd__qc_run(argv, NULL, 0);
}

/* An executable name in PATH (or /usr/sbin, /sbin: root's tools). */
int wsmd__qc_have_program(const char *name)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", d, name);
        if (access(p, X_OK) == 0)
            return 1;
    }
    return 0;
}

/* ---- the running wsmd without systemd ----------------------------------- */

/* 1 if process pid is a wsmd started with -c naming our file. */
static int reads_our_file(const char *pid, const char *real)
{
    char p[PATH_MAX], exe[PATH_MAX];
    snprintf(p, sizeof(p), "/proc/%s/exe", pid);
    ssize_t n = readlink(p, exe, sizeof(exe) - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    if (strncmp(base, "wsmd", 4) || (base[4] && base[4] != ' '))
        return 0;
    snprintf(p, sizeof(p), "/proc/%s/cmdline", pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return 0;
    char cmd[8192];
    size_t len = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    cmd[len] = '\0';
    for (size_t i = 0; i < len;) {
        const char *a = cmd + i;
        i += strlen(a) + 1;
        if ((strcmp(a, "-c") && strcmp(a, "--config")) || i >= len)
            continue;
        const char *v = cmd + i;
        char full[PATH_MAX * 2], r[PATH_MAX];
        if (v[0] == '/')
            snprintf(full, sizeof(full), "%s", v);
        else
            snprintf(full, sizeof(full), "/proc/%s/cwd/%s", pid, v);
        return realpath(full, r) && !strcmp(r, real);
    }
    return 0;
}

static long parent_of(const char *pid)
{
    char p[PATH_MAX], buf[512];
    snprintf(p, sizeof(p), "/proc/%s/stat", pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')'); /* the name may hold anything */
    char state;
    long ppid;
    return rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 ? ppid : -1;
}

/* The wsmd that reads our file: its main process (a separated wsmd's
 * network process is its child and reads the same command line). */
long wsmd__qc_find_wsmd(const char *real)
{
    long found[32];
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 32)
        if (isdigit((unsigned char)e->d_name[0]) && reads_our_file(e->d_name, real))
            found[n++] = strtol(e->d_name, NULL, 10);
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char s[24];
        snprintf(s, sizeof(s), "%ld", found[i]);
        long pp = parent_of(s);
        int child = 0;
        for (size_t j = 0; j < n; j++)
            child |= found[j] == pp;
        if (!child)
            return found[i];
    }
    return 0;
}

/* 1 once a socket listens on the IPv4 wildcard address and port. */
static int listening_any(int port)
{
    FILE *f = fopen("/proc/net/tcp", "re");
    if (!f)
        return 0;
    char line[512];
    int hit = 0;
    while (!hit && fgets(line, sizeof(line), f)) {
        unsigned addr, p, st;
        if (sscanf(line, " %*d: %x:%x %*x:%*x %x", &addr, &p, &st) == 3)
            hit = addr == 0 && (int)p == port && st == 0x0A;
    }
    fclose(f);
    return hit;
}

int wsmd__qc_wait_listening(int port)
{
    for (int waited = 0; waited < RELOAD_WAIT_MS; waited += 50) {
        if (listening_any(port))
            return 1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return listening_any(port);
}
