/* winrs: run a command on a remote host, with the syntax of winrs.exe.
 *
 *   winrs -r:URL [-a:AUTH] -u:USER -p:PASS [-d:DIR] [-env:K=V]... [-noprofile] COMMAND [ARGS...]
 *
 * Three threads, each with its own session (a session is one connection,
 * for one thread at a time): the main thread creates the shell, starts
 * the command and loops on Receive, writing stdout and stderr as they
 * arrive (the library fetches the next Receive on a connection of its own
 * meanwhile: "ReceiveAhead"); a stdin thread forwards our stdin with Send
 * (End at EOF; when stdin is /dev/null or a file at its end, the main
 * thread sends that End itself and there is no stdin thread); a signal
 * thread turns Ctrl-C into the ctrl_c signal (a second one into
 * terminate, a third gives up on the command). The shell is deleted at
 * the end in every case.
 */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "switches.h"
#include "winrs_priv.h"
#include "args.h"
#include "prompt.h"
#include "clientcfg.h"
#include "faultfmt.h"
#include "winrs_help.h"
#include "wsm/wsm.h"

#define MAX_ENVELOPE (8L * 1024 * 1024)
#define MAX_ENV_VARS 256

/* -noecho: the terminal's mode before, put back on every way out (the
 * program leaves through _exit, which runs no atexit handler). */
static struct termios saved_tty;
static volatile int echo_off;

void winrs_exit(int rc)
{
    if (echo_off)
        tcsetattr(0, TCSANOW, &saved_tty); /* async-signal-safe */
    _exit(rc);
}

static void restore_echo(void)
{
    if (echo_off)
        tcsetattr(0, TCSANOW, &saved_tty);
}

struct winrs_ctl winrs_ctl = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int usage(FILE *f)
{
    fputs(WINRS_HELP_TEXT, f); /* man/winrs.txt, the source of winrs(1) too */
    return f == stderr ? 1 : 0;
}

/* ---- the endpoint URL ---------------------------------------------- */

/* host, host:port, http(s)://host[:port][/path], [v6]:port: returns a
 * malloc'd full URL with the WinRM default port and path filled in. */
static char *make_url(const char *r, int usessl, unsigned http_port, unsigned https_port)
{
    const char *scheme = usessl ? "https" : "http";
    size_t scheme_len = strlen(scheme);
    const char *sep = strstr(r, "://");
    const char *rest = r;
    if (sep) {
        scheme = r;
        scheme_len = (size_t)(sep - r);
        rest = sep + 3;
    }
    int https = scheme_len == 5 && strncasecmp(scheme, "https", 5) == 0;
    size_t hostlen = strcspn(rest, "/?#");
    const char *path = rest + hostlen;
    int has_port, bare_v6 = 0;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', hostlen);
        has_port = close && close + 1 < rest + hostlen && close[1] == ':';
    } else {
        const char *c1 = memchr(rest, ':', hostlen);
        const char *c2 = c1 ? memchr(c1 + 1, ':', hostlen - (size_t)(c1 + 1 - rest)) : NULL;
        has_port = c1 && !c2;
        bare_v6 = c2 != NULL;
    }
    if (hostlen == 0)
        return NULL;
    size_t n = scheme_len + hostlen + strlen(path) + 32;
    char *url = malloc(n);
    if (!url)
        return NULL;
    char port[16] = ""; /* winrm/config/client/DefaultPorts */
    if (!has_port)
        snprintf(port, sizeof(port), ":%u", https ? https_port : http_port);
    snprintf(url, n, "%.*s://%s%.*s%s%s%s", (int)scheme_len, scheme, bare_v6 ? "[" : "",
             (int)hostlen, rest, bare_v6 ? "]" : "", port, *path ? path : "/wsman");
    return url;
}

/* ---- main ---------------------------------------------------------- */

static int interrupted(void)
{
    pthread_mutex_lock(&winrs_ctl.mu);
    int r = winrs_ctl.nint || winrs_ctl.killed;
    pthread_mutex_unlock(&winrs_ctl.mu);
    return r;
}

static int exit_status_interrupted(void)
{
    pthread_mutex_lock(&winrs_ctl.mu);
    int k = winrs_ctl.killed;
    pthread_mutex_unlock(&winrs_ctl.mu);
    return k ? 128 + k : EXIT_INTERRUPTED;
}

/* The transport switches every session gets. */
static struct {
    int skip_ca, skip_cn, unencrypted;
    const char *cert, *key, *cacert, *spn;
} tls;

static enum wsm_err new_session(const struct wsm_session_opts *o, wsm_session **out)
{
    enum wsm_err e = wsm_session_new(o, out);
    if (e)
        return e;
    if (!(e = wsm_session_set(*out, "MaxEnvelopeSize", MAX_ENVELOPE)) && tls.skip_ca)
        e = wsm_session_set(*out, "SkipCACheck", 1);
    if (!e && tls.skip_cn)
        e = wsm_session_set(*out, "SkipCNCheck", 1);
    if (!e && tls.unencrypted)
        e = wsm_session_set(*out, "AllowUnencrypted", 1);
    if (!e && tls.cert)
        e = wsm_session_set_string(*out, "CertificateFile", tls.cert);
    if (!e && tls.key)
        e = wsm_session_set_string(*out, "KeyFile", tls.key);
    if (!e && tls.cacert)
        e = wsm_session_set_string(*out, "CAFile", tls.cacert);
    if (!e && tls.spn)
        e = wsm_session_set_string(*out, "SPN", tls.spn);
    if (e) {
        wsm_session_free(*out);
        *out = NULL;
    }
    return e;
}

/* Ends the program: deletes the shell (if any) and exits with rc. */
static int finish(wsm_shell *sh, int rc)
{
    pthread_mutex_lock(&winrs_ctl.mu);
    winrs_ctl.finished = 1;
    pthread_mutex_unlock(&winrs_ctl.mu);
    if (sh) {
        enum wsm_err e = wsm_shell_delete(sh);
        if (e && !interrupted())
            winrs_report("deleting the shell", winrs_ctl.main_s, e);
    }
    /* The stdin thread may sit in read() on a terminal: do not wait. */
    fflush(NULL);
    winrs_exit(rc);
}

static void winrs_noecho(void)
{
    if (!isatty(0) || tcgetattr(0, &saved_tty) < 0)
        return; /* not a terminal: nothing is echoed anyway */
    struct termios t = saved_tty;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    if (tcsetattr(0, TCSANOW, &t) == 0) {
        echo_off = 1;
        atexit(restore_echo); /* a return from main (an error before the shell) */
    }
}

/* The Windows code page of a charset name (nl_langinfo(CODESET)): UTF-8
 * is 65001, ISO-8859-N 2859N, CPnnnn/windows-nnnn nnnn, KOI8 and GB18030
 * theirs; anything else (ASCII: the C locale) 437, as Windows winrs sends
 * by default. */
static const char *local_codepage(const char *cs)
{
    static char buf[16];
    unsigned n;
    if (!cs)
        return "437";
    if (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "UTF8"))
        return "65001";
    if (sscanf(cs, "ISO-8859-%u", &n) == 1 && n >= 1 && n <= 15) {
        snprintf(buf, sizeof(buf), "%u", 28590 + n);
        return buf;
    }
    if ((sscanf(cs, "CP%u", &n) == 1 || sscanf(cs, "windows-%u", &n) == 1) && n > 0 && n < 65536) {
        snprintf(buf, sizeof(buf), "%u", n);
        return buf;
    }
    if (!strcasecmp(cs, "KOI8-R"))
        return "20866";
    if (!strcasecmp(cs, "KOI8-U"))
        return "21866";
    if (!strcasecmp(cs, "GB18030"))
        return "54936";
    if (!strcasecmp(cs, "EUC-JP"))
        return "51932";
    return "437";
}

int main(int argc, char **argv)
{
    const char *remote = "localhost", *user = NULL, *pass = getenv("WSM_PASSWORD");
    const char *dir = NULL, *auth = NULL;
    char *pass_arg = NULL; /* the password's bytes in argv, wiped once copied */
    const char *env[MAX_ENV_VARS + 1];
    int nenv = 0, noprofile = 0, usessl = 0, noecho = 0, xpress = 0;
    int i;

    /* Output arrives in replies of megabytes: keep freed memory instead of
     * unmapping it after each, which costs a page fault per 4 KiB. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
    setlocale(LC_CTYPE, "");
    for (i = 1; i < argc; i++) {
        const char *v;
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' && a[0] != '/')
            break;
        if (cli_switch(a, "r|remote", &v) && v)
            remote = v;
        else if (cli_switch(a, "u|username", &v) && v)
            user = v;
        else if (cli_switch(a, "p|password", &v) && v)
            pass = pass_arg = argv[i] + (v - a);
        else if (cli_switch(a, "d|directory", &v) && v)
            dir = v;
        else if (cli_switch(a, "env|environment", &v) && v) {
            if (!strchr(v, '=') || v[0] == '=') {
                fprintf(stderr, "winrs: -env: wants NAME=VALUE, not '%s'\n", v);
                return 1;
            }
            if (nenv == MAX_ENV_VARS) {
                fprintf(stderr, "winrs: too many -env: switches\n");
                return 1;
            }
            env[nenv++] = v;
        } else if (cli_switch(a, "a|auth|authentication", &v) && v)
            auth = v;
        else if (cli_switch(a, "noprofile|nop", &v))
            noprofile = 1;
        else if (cli_switch(a, "usessl|ssl", &v))
            usessl = 1;
        else if (cli_switch(a, "skipCAcheck", &v))
            tls.skip_ca = 1;
        else if (cli_switch(a, "skipCNcheck", &v))
            tls.skip_cn = 1;
        else if (cli_switch(a, "unencrypted|un", &v))
            tls.unencrypted = 1;
        else if (cli_switch(a, "c|certificate", &v) && v)
            tls.cert = v;
        else if (cli_switch(a, "key|keyfile", &v) && v)
            tls.key = v;
        else if (cli_switch(a, "cacert|cafile", &v) && v)
            tls.cacert = v;
        else if (cli_switch(a, "spn", &v) && v)
            tls.spn = v;
        else if (cli_switch(a, "noecho|noe|ne", &v))
            noecho = 1;
        else if (cli_refused_switch("winrs", a)) {
            fprintf(stderr, "winrs: %s: not supported: %s\n", a, cli_refused_switch("winrs", a));
            return 1;
        } else if (cli_switch(a, "compression|comp", &v))
            xpress = 1; /* CompressionType xpress (MS-WSMV 3.2.4.1.19) */
        else if (cli_switch(a, "skipRevocationcheck", &v))
            ; /* accepted for compatibility; nothing to do */
        else if (cli_switch(a, "?|h|help", &v))
            return usage(stdout);
        else if (a[0] == '/')
            break; /* not a switch: a command such as /bin/ls */
        else {
            fprintf(stderr, "winrs: unknown switch %s\n", a);
            return usage(stderr);
        }
    }
    env[nenv] = NULL;
    /* -noecho: what the user types is not shown here (Windows' meaning:
     * answers to remote prompts stay off the screen); the remote console
     * never echoes (docs/internals/shell.md). */
    if (noecho)
        winrs_noecho();
    if (i >= argc) {
        fprintf(stderr, "winrs: no command given\n");
        return usage(stderr);
    }
    /* winrm/config/client, as winrm reads it (clientcfg.h). */
    struct cli_clientcfg cc;
    char cerr[600];
    if (cli_clientcfg_load(&cc, cerr, sizeof(cerr)) != 0) {
        fprintf(stderr, "winrs: client configuration: %s\n", cerr);
        return 1;
    }
    enum wsm_auth am = tls.cert ? WSM_AUTH_CERTIFICATE : WSM_AUTH_BASIC;
    if (!tls.cert && !auth && cc.default_auth[0])
        cli_parse_auth(cc.default_auth, &am);
    if (auth && (cli_parse_auth(auth, &am) != 0 || am == WSM_AUTH_NONE)) {
        fprintf(stderr,
                "winrs: unknown authentication '%s' (Basic, Negotiate, NTLM, Kerberos, "
                "Certificate)\n",
                auth);
        return 1;
    }

    /* The command line: the remaining words joined with spaces. */
    size_t cl = 1;
    for (int k = i; k < argc; k++)
        cl += strlen(argv[k]) + 1;
    char *cmdline = malloc(cl);
    char *url = make_url(remote, usessl, cc.http_port, cc.https_port);
    if (!cmdline || !url) {
        fprintf(stderr, "winrs: %s\n", url ? "out of memory" : "invalid -r: value");
        return 1;
    }
    static char typed[256]; /* a password asked on the terminal (prompt.h) */
    if (cli_want_password(am, user, pass)) {
        int pr = cli_ask_password("winrs", user, url, typed, sizeof(typed));
        if (pr == -2)
            return 1;
        if (pr == 0)
            pass = typed;
    }
    const char *why = cli_auth_check(am, user, pass, !strncasecmp(url, "https:", 6), tls.cert);
    unsigned long code;
    if (!why)
        why = cli_clientcfg_check(&cc, am, url, tls.unencrypted, &code);
    if (why) {
        fprintf(stderr, "winrs: %s\n", why);
        return 1;
    }
    cmdline[0] = '\0';
    for (int k = i; k < argc; k++) {
        if (k > i)
            strcat(cmdline, " ");
        strcat(cmdline, argv[k]);
    }

    /* Signals go to the signal thread only; SIGPIPE shows as EPIPE. */
    sigemptyset(&winrs_sigs);
    sigaddset(&winrs_sigs, SIGINT);
    sigaddset(&winrs_sigs, SIGTERM);
    sigaddset(&winrs_sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &winrs_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct wsm_session_opts so = {.url = url, .user = user, .password = pass, .auth = am};
    enum wsm_err e;
    if ((e = new_session(&so, &winrs_ctl.main_s)) ||
        (e = wsm_session_set(winrs_ctl.main_s, "ReceiveAhead", 1)) ||
        (e = new_session(&so, &winrs_ctl.in_s)) || (e = new_session(&so, &winrs_ctl.sig_s))) {
        winrs_report("cannot open a session", NULL, e);
        return 1;
    }
    if (pass_arg) /* keep it out of ps and /proc/PID/cmdline from now on */
        explicit_bzero(pass_arg, strlen(pass_arg));
    explicit_bzero(typed, sizeof(typed)); /* the sessions hold their copies */
    pthread_t sig_thread, in_thread;
    if (pthread_create(&sig_thread, NULL, winrs_signal_main, NULL) != 0) {
        fprintf(stderr, "winrs: cannot start a thread\n");
        return 1;
    }

    /* As Windows winrs sends its console's code page, we send the one of
     * our terminal's charset: the service converts the output to it. */
    struct wsm_shell_opts sho = {
        .workdir = dir,
        .env = nenv ? env : NULL,
        .noprofile = noprofile,
        .codepage = local_codepage(nl_langinfo(CODESET)),
        .xpress = xpress,
    };
    wsm_shell *sh = NULL;
    if ((e = wsm_shell_create(winrs_ctl.main_s, &sho, &sh))) {
        winrs_report("cannot create the shell", winrs_ctl.main_s, e);
        return finish(NULL, 1);
    }
    char *shell_id = strdup(wsm_shell_id(sh));
    pthread_mutex_lock(&winrs_ctl.mu);
    winrs_ctl.shell_id = shell_id;
    pthread_mutex_unlock(&winrs_ctl.mu);
    if (!shell_id || interrupted())
        return finish(sh, shell_id ? exit_status_interrupted() : 1);

    char *command_id = NULL;
    if ((e = wsm_shell_run(sh, cmdline, NULL, &command_id))) {
        winrs_report("cannot run the command", winrs_ctl.main_s, e);
        return finish(sh, 1);
    }
    pthread_mutex_lock(&winrs_ctl.mu);
    winrs_ctl.command_id = command_id;
    pthread_mutex_unlock(&winrs_ctl.mu);
    if (interrupted()) {
        wsm_shell_signal(sh, command_id, "terminate");
        return finish(sh, exit_status_interrupted());
    }

    wsm_shell *in_sh = NULL;
    if (winrs_stdin_at_end()) {
        /* Nothing to forward but the end: one Send on this connection
         * costs less than a thread, a connection and a login of its own.
         * A fault means the command is done already; the Receive tells. */
        e = wsm_shell_send(sh, command_id, NULL, 0, 1);
        if (e && e != WSM_ERR_FAULT && !interrupted())
            winrs_report("sending stdin", winrs_ctl.main_s, e);
    } else if (wsm_shell_open(winrs_ctl.in_s, shell_id, &in_sh) != WSM_OK ||
               (wsm_shell_set_xpress(in_sh, xpress), 0) ||
               pthread_create(&in_thread, NULL, winrs_stdin_main, in_sh) != 0) {
        fprintf(stderr, "winrs: cannot start a thread\n");
        wsm_shell_signal(sh, command_id, "terminate");
        return finish(sh, 1);
    }

    struct wsm_receive r = {.on_stdout = winrs_on_stdout, .on_stderr = winrs_on_stderr};
    for (;;) {
        e = wsm_shell_receive(sh, command_id, &r);
        if (e) {
            if (interrupted())
                return finish(sh, exit_status_interrupted());
            winrs_report("receiving output", winrs_ctl.main_s, e);
            return finish(sh, 1);
        }
        if (r.done)
            break;
        pthread_mutex_lock(&winrs_ctl.mu);
        int broken = winrs_ctl.out_broken;
        pthread_mutex_unlock(&winrs_ctl.mu);
        if (broken) {
            /* Nobody reads our output any more: as a pipeline would. */
            wsm_shell_signal(sh, command_id, "terminate");
            return finish(sh, 128 + SIGPIPE);
        }
    }
    return finish(sh, r.exit_code & 0xff);
}
