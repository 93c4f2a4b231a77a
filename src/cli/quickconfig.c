/* winrm quickconfig (qc): what Windows' `winrm quickconfig` does, with a
 * Linux meaning (docs/admin.md "winrm quickconfig"):
 *
 *   1. the service: with systemd, wsmd.service enabled and started
 *      (Windows: "Set the WinRM service type to delayed auto start.",
 *      "Start the WinRM service."); without it, the running wsmd that
 *      reads this file is found in /proc;
 *   2. the listener: a Listen line on all addresses (http://0.0.0.0:5985,
 *      or https://0.0.0.0:5986 with a certificate that is given,
 *      configured, or made here) written to wsmd's configuration file
 *      through wsmd's own editor (src/daemon/cfgfile.c), then applied by
 *      a reload (systemctl reload, or SIGHUP), which opens it;
 *   3. the firewall: said, not changed (which one is active and what to
 *      open).
 *
 * Like Windows' it changes nothing else (no Basic, no AllowUnencrypted),
 * asks before changing anything unless -q or -force, prints Windows'
 * sentences, and run again finds nothing to change and writes nothing.
 * It works on this machine only, as root or a member of wsmd-admins. */
#include "quickconfig.h"

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

#define DEFAULT_CONFIG "/etc/wsmd/wsmd.conf" /* what wsmd.service runs wsmd -c with */
#define UNIT "wsmd.service"
#define ADMIN_GROUP "wsmd-admins"
#define MAX_LISTEN 16
#define ERROR_ACCESS_DENIED 5UL
#define RELOAD_WAIT_MS 10000

struct listen {
    int https, port, any, v6;
    char host[64];
    char value[256]; /* as written in the file; "" for the embedded default */
};

struct qc {
    int quiet, https;
    long port;
    const char *cfg, *cert, *key;
    char real[PATH_MAX];
    struct listen l[MAX_LISTEN];
    size_t nl;
    int from_file; /* the file has Listen lines (else: the embedded default) */
    char cert_cfg[PATH_MAX], key_cfg[PATH_MAX];
};

/* ---- the command line ------------------------------------------------- */

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "winrm quickconfig: %s%s\nType \"winrm quickconfig -?\" for help.\n", msg,
            arg ? arg : "");
    return 2;
}

static int parse(int argc, char **argv, struct qc *q, int *help)
{
    int seen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!seen && (!strcasecmp(a, "quickconfig") || !strcasecmp(a, "qc"))) {
            seen = 1;
        } else if (cli_switch(a, "?|h|help", &v)) {
            *help = 1;
        } else if (cli_switch(a, "q|quiet", &v) && !v) {
            q->quiet = 1;
        } else if (cli_switch(a, "force", &v) && !v) {
            q->quiet = 1; /* Windows: no prompt (and any network profile) */
        } else if (cli_switch(a, "transport", &v) && v) {
            if (!strcasecmp(v, "http"))
                q->https = 0;
            else if (!strcasecmp(v, "https"))
                q->https = 1;
            else
                return usage_error("-transport: is http or https, not ", v);
        } else if (cli_switch(a, "port", &v) && v) {
            char *end;
            q->port = strtol(v, &end, 10);
            if (end == v || *end || q->port < 1 || q->port > 65535)
                return usage_error("-port: is a number from 1 to 65535, not ", v);
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
            q->cfg = argv[++i];
        } else if (cli_switch(a, "config|c", &v) && v) {
            q->cfg = v;
        } else if (cli_switch(a, "certificate", &v) && v) {
            q->cert = v;
        } else if (cli_switch(a, "key|keyfile", &v) && v) {
            q->key = v;
        } else {
            return usage_error("unknown switch or unexpected argument: ", a);
        }
    }
    if (!q->cfg)
        q->cfg = DEFAULT_CONFIG;
    if ((q->cert || q->key) && !q->https)
        return usage_error("-certificate: and -key: go with -transport:https", NULL);
    if (!q->cert != !q->key)
        return usage_error("-certificate: and -key: go together", NULL);
    return -1;
}

/* ---- who may ----------------------------------------------------------- */

static int may_configure(void)
{
    if (geteuid() == 0)
        return 1;
    struct group *g = getgrnam(ADMIN_GROUP);
    if (!g)
        return 0;
    if (getegid() == g->gr_gid)
        return 1;
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == g->gr_gid)
            return 1;
    return 0;
}

/* ---- running programs ---------------------------------------------------- */

/* The systemctl to run: $SYSTEMCTL (tests point it at a script), or
 * systemctl when systemd is the service manager; NULL without it. */
static const char *systemctl(void)
{
    const char *s = getenv("SYSTEMCTL");
    if (s && *s)
        return s;
    return access("/run/systemd/system", F_OK) == 0 ? "systemctl" : NULL;
}

/* Runs argv (PATH searched) with its output on out (NULL: discarded);
 * its exit status, or -1. */
static int run(const char *const *argv, char *out, size_t outn)
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

static int sysctl(const char *verb)
{
    const char *argv[] = {systemctl(), verb, UNIT, NULL};
    return run(argv, NULL, 0);
}

/* An executable name in PATH (or /usr/sbin, /sbin: root's tools). */
static int have_program(const char *name)
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
static long find_wsmd(const char *real)
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

static int wait_listening(int port)
{
    for (int waited = 0; waited < RELOAD_WAIT_MS; waited += 50) {
        if (listening_any(port))
            return 1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return listening_any(port);
}

/* ---- the configuration file ---------------------------------------------- */

/* One Listen value as wsmd reads it (config.c); 0 if it does not. */
static int parse_listen(const char *v, struct listen *l)
{
    memset(l, 0, sizeof(*l));
    const char *p;
    if (!strncasecmp(v, "http://", 7)) {
        p = v + 7;
        l->port = 5985;
    } else if (!strncasecmp(v, "https://", 8)) {
        p = v + 8;
        l->https = 1;
        l->port = 5986;
    } else {
        return 0;
    }
    const char *he;
    if (*p == '[') {
        he = strchr(p, ']');
        if (!he || (size_t)(he - p - 1) >= sizeof(l->host))
            return 0;
        memcpy(l->host, p + 1, (size_t)(he - p - 1));
        he++;
    } else {
        he = p + strcspn(p, ":/");
        if (he == p || (size_t)(he - p) >= sizeof(l->host))
            return 0;
        memcpy(l->host, p, (size_t)(he - p));
    }
    if (!strcmp(l->host, "localhost"))
        strcpy(l->host, "127.0.0.1");
    if (*he == ':')
        l->port = atoi(he + 1);
    l->v6 = strchr(l->host, ':') != NULL;
    l->any = !strcmp(l->host, "0.0.0.0") || !strcmp(l->host, "::");
    snprintf(l->value, sizeof(l->value), "%s", v);
    return 1;
}

static int read_config(struct qc *q, char *why, size_t n)
{
    FILE *f = fopen(q->real, "re");
    if (!f) {
        snprintf(why, n, "cannot read %.300s: %s", q->real, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        struct wsmd_cfgline c;
        size_t len = strcspn(line, "\n");
        if (!wsmd__cfgfile_scan(line, len, &c))
            continue;
        char key[64], val[PATH_MAX];
        snprintf(key, sizeof(key), "%.*s", (int)(c.ke - c.ks), line + c.ks);
        snprintf(val, sizeof(val), "%.*s", (int)(c.ve - c.vs), line + c.vs);
        if (!strcasecmp(key, "Listen") && q->nl < MAX_LISTEN && parse_listen(val, &q->l[q->nl])) {
            q->nl++;
            q->from_file = 1;
        } else if (!strcasecmp(key, "CertificateFile")) {
            snprintf(q->cert_cfg, sizeof(q->cert_cfg), "%s", val);
        } else if (!strcasecmp(key, "KeyFile")) {
            snprintf(q->key_cfg, sizeof(q->key_cfg), "%s", val);
        }
    }
    fclose(f);
    if (!q->from_file) {
        /* wsmd's embedded default (main.c): in effect, but on no line. */
        parse_listen("http://127.0.0.1:5985", &q->l[0]);
        q->l[0].value[0] = '\0';
        q->nl = 1;
    }
    return 0;
}

/* What stage 2 changes: Listen lines removed and added, the certificate. */
struct plan {
    int configured;               /* a listener on * for the transport exists */
    int port;                     /* the new listener's */
    char add[256];                /* its Listen value */
    char keep[256];               /* the embedded default, written out to keep it */
    char remove[MAX_LISTEN][256]; /* Listen lines the new listener replaces */
    size_t nremove;
    int make_cert; /* create cert_path/key_path */
    int set_cert;  /* write CertificateFile/KeyFile */
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    char host[256]; /* the created certificate's name */
};

static int plan_listener(struct qc *q, struct plan *p, char *why, size_t n)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < q->nl; i++)
        if (q->l[i].any && q->l[i].https == q->https)
            p->configured = 1;
    if (p->configured)
        return 0;
    /* The port: -port:, else the one this transport already uses (on a
     * narrower address), else Windows' default. */
    p->port = q->port ? (int)q->port : q->https ? 5986 : 5985;
    for (size_t i = 0; i < q->nl && !q->port; i++)
        if (q->l[i].https == q->https) {
            p->port = q->l[i].port;
            break;
        }
    int default_replaced = 0;
    for (size_t i = 0; i < q->nl; i++) {
        const struct listen *l = &q->l[i];
        if (l->port != p->port || l->v6)
            continue; /* IPv6 sockets are IPv6-only (listen.c): no clash */
        if (l->https != q->https) {
            snprintf(why, n,
                     "port %d is already used by the listener %s; choose another with -port:",
                     p->port, l->value[0] ? l->value : "http://127.0.0.1:5985 (the default)");
            return -1;
        }
        /* The same transport on one IPv4 address: 0.0.0.0 serves it too,
         * and both cannot be bound. */
        if (l->value[0])
            snprintf(p->remove[p->nremove++], sizeof(p->remove[0]), "%s", l->value);
        else
            default_replaced = 1;
    }
    if (!q->from_file && !default_replaced)
        snprintf(p->keep, sizeof(p->keep), "http://127.0.0.1:5985");
    snprintf(p->add, sizeof(p->add), "%s://0.0.0.0:%d", q->https ? "https" : "http", p->port);
    if (!q->https)
        return 0;
    if (q->cert) {
        const char *bad = !realpath(q->cert, p->cert_path) ? q->cert
                          : !realpath(q->key, p->key_path) ? q->key
                                                           : NULL;
        if (bad) {
            snprintf(why, n, "cannot find %.300s: %s", bad, strerror(errno));
            return -1;
        }
        p->set_cert = strcmp(p->cert_path, q->cert_cfg) || strcmp(p->key_path, q->key_cfg);
        return 0;
    }
    if (q->cert_cfg[0] && q->key_cfg[0]) {
        snprintf(p->cert_path, sizeof(p->cert_path), "%s", q->cert_cfg);
        snprintf(p->key_path, sizeof(p->key_path), "%s", q->key_cfg);
        return 0;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", q->real);
    snprintf(p->cert_path, sizeof(p->cert_path), "%s/quickconfig-cert.pem", dirname(dir));
    snprintf(dir, sizeof(dir), "%s", q->real);
    snprintf(p->key_path, sizeof(p->key_path), "%s/quickconfig-key.pem", dirname(dir));
    p->set_cert = 1;
    /* Made by an earlier run that stopped before the file was written:
     * used, never overwritten. */
    p->make_cert = access(p->cert_path, F_OK) != 0 || access(p->key_path, F_OK) != 0;
    if (p->make_cert) {
        char h[256] = "";
        gethostname(h, sizeof(h) - 1);
        struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *res = NULL;
        if (getaddrinfo(h, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
            strchr(res->ai_canonname, '.'))
            snprintf(p->host, sizeof(p->host), "%s", res->ai_canonname);
        else
            snprintf(p->host, sizeof(p->host), "%s", h);
        if (res)
            freeaddrinfo(res);
    }
    return 0;
}

static int same_value(const char *a, const char *b)
{
    return !strcasecmp(a, b);
}

/* The plan as one edit of the file (one atomic write): the replaced
 * Listen line out, the embedded default written out, the certificate
 * keys, the new Listen line last. */
static enum wsm_err apply_plan(const char *text, size_t len, void *arg, struct wsm_buf *out)
{
    const struct plan *p = arg;
    struct wsm_buf a, b;
    wsm__buf_init(&a, 0);
    wsm__buf_init(&b, 0);
    unsigned removed;
    enum wsm_err e = wsmd__cfgfile_lines_text(text, len, "Listen", p->keep[0] ? p->keep : NULL,
                                              NULL, NULL, &a, &removed);
    for (size_t i = 0; i < p->nremove && !e; i++) {
        wsm__buf_reset(&b);
        e = wsmd__cfgfile_lines_text(a.data ? a.data : "", a.len, "Listen", NULL, p->remove[i],
                                     same_value, &b, &removed);
        struct wsm_buf t = a;
        a = b;
        b = t;
    }
    wsm__buf_reset(&b);
    if (!e && p->set_cert) {
        struct wsmd_cfgedit ed[] = {{"CertificateFile", p->cert_path}, {"KeyFile", p->key_path}};
        e = wsmd__cfgfile_set_text(a.data ? a.data : "", a.len, ed, 2, &b);
    } else if (!e) {
        e = wsm__buf_add(&b, a.data ? a.data : "", a.len);
    }
    if (!e)
        e = wsmd__cfgfile_lines_text(b.data ? b.data : "", b.len, "Listen", p->add, NULL, NULL, out,
                                     &removed);
    wsm__buf_free(&a);
    wsm__buf_free(&b);
    return e;
}

/* ---- talking as Windows does ------------------------------------------- */

/* "Make these changes [y/n]? ": 1 for y. -q and -force do not ask. */
static int confirm(const struct qc *q)
{
    if (q->quiet)
        return 1;
    printf("\nMake these changes [y/n]? ");
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        return 0;
    char *a = line;
    while (isspace((unsigned char)*a))
        a++;
    return (a[0] == 'y' || a[0] == 'Y') && (!a[1] || isspace((unsigned char)a[1]));
}

static void fail(const char *fmt, const char *a, const char *b)
{
    fputs("winrm quickconfig: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
}

/* What the firewall needs, said: Windows' quickconfig opens it; here it
 * is the administrator's rule set, which quickconfig does not edit. */
static void firewall_advice(int port)
{
    char out[512] = "";
    if (have_program("ufw")) {
        const char *argv[] = {"ufw", "status", NULL};
        if (run(argv, out, sizeof(out)) == 0 && strstr(out, "Status: active")) {
            printf("A firewall is active (ufw): to let WinRM requests in, run: ufw allow %d/tcp\n",
                   port);
            return;
        }
    }
    if (have_program("firewall-cmd")) {
        const char *argv[] = {"firewall-cmd", "--state", NULL};
        if (run(argv, out, sizeof(out)) == 0 && strstr(out, "running")) {
            printf("A firewall is active (firewalld): to let WinRM requests in, run: "
                   "firewall-cmd --permanent --add-port=%d/tcp && firewall-cmd --reload\n",
                   port);
            return;
        }
    }
    if (have_program("nft")) {
        const char *argv[] = {"nft", "list", "ruleset", NULL};
        if (run(argv, out, sizeof(out)) == 0 && strstr(out, "hook input")) {
            printf("nftables has input rules: make sure they accept TCP port %d "
                   "(e.g. nft add rule inet filter input tcp dport %d accept).\n",
                   port, port);
            return;
        }
    }
    printf("No active firewall was found (ufw, firewalld, nftables): if another filters "
           "traffic, open TCP port %d.\n",
           port);
}

/* ---- the two stages ------------------------------------------------------ */

/* Stage 1, the service. *pid: a wsmd found without systemd (0: none).
 * Returns 0, or 1 on failure. */
static int stage_service(const struct qc *q, const char *sc, long *pid)
{
    *pid = 0;
    if (!sc) {
        *pid = find_wsmd(q->real);
        if (*pid) {
            printf("WinRM service is already running on this machine.\n");
        } else {
            printf("systemd is not this system's service manager (no /run/systemd/system): "
                   "quickconfig can neither enable nor start wsmd, and no running wsmd reads "
                   "%s.\nStart it with: wsmd -c %s\n",
                   q->real, q->real);
        }
        return 0;
    }
    int enabled = sysctl("is-enabled") == 0, active = sysctl("is-active") == 0;
    if (enabled && active) {
        printf("WinRM service is already running on this machine.\n");
        return 0;
    }
    printf("WinRM is not set up to receive requests on this machine.\n"
           "The following changes must be made:\n\n");
    if (!active)
        printf("Start the WinRM service.\n");
    if (!enabled)
        printf("Set the WinRM service type to delayed auto start.\n");
    printf("    (systemctl%s%s " UNIT ")\n", active ? "" : " start", enabled ? "" : " enable");
    if (!confirm(q))
        return 1;
    if (!enabled && sysctl("enable") != 0) {
        fail("systemctl enable %s failed%s", UNIT, "");
        return 1;
    }
    if (!active && sysctl("start") != 0) {
        fail("systemctl start %s failed: see systemctl status %s", UNIT, UNIT);
        return 1;
    }
    printf("\nWinRM has been updated to receive requests.\n\n");
    if (!enabled)
        printf("WinRM service type changed successfully.\n");
    if (!active)
        printf("WinRM service started.\n");
    printf("\n");
    return 0;
}

static int stage_listener(struct qc *q, const char *sc, long pid)
{
    char why[600] = "";
    struct plan p;
    if (read_config(q, why, sizeof(why)) != 0 || plan_listener(q, &p, why, sizeof(why)) != 0) {
        fail("%s%s", why, "");
        return 1;
    }
    const char *T = q->https ? "HTTPS" : "HTTP";
    if (p.configured) {
        printf("WinRM is already set up for remote management on this computer.\n");
        return 0;
    }
    printf("WinRM is not set up to allow remote access to this machine for management.\n"
           "The following changes must be made:\n\n");
    printf("Create a WinRM listener on %s://* to accept WS-Man requests to any IP on this "
           "machine.\n",
           T);
    printf("    (in %s: Listen = %s", q->real, p.add);
    for (size_t i = 0; i < p.nremove; i++)
        printf(", in place of Listen = %s", p.remove[i]);
    if (p.keep[0])
        printf("; Listen = %s, the default, kept", p.keep);
    printf(")\n");
    if (p.make_cert)
        printf("Create a self-signed certificate for %s:\n    %s (key %s)\n", p.host, p.cert_path,
               p.key_path);
    else if (q->https)
        printf("Use the certificate %s (key %s).\n", p.cert_path, p.key_path);
    if (!confirm(q))
        return 1;
    char tp[41] = "";
    if (p.make_cert) {
        const char *names[] = {p.host};
        if (qc_cert_create(names, 1, p.cert_path, p.key_path, tp, why, sizeof(why)) != 0) {
            fail("%s%s", why, "");
            return 1;
        }
    } else if (q->https && qc_cert_thumbprint(p.cert_path, tp, why, sizeof(why)) != 0) {
        fail("%s%s", why, "");
        return 1;
    }
    enum wsm_err e = wsmd__cfgfile_write(q->real, apply_plan, &p);
    if (e) {
        fail("cannot write %s: %s", q->real,
             e == WSM_ERR_INVALID_ARG ? "a path holds a character wsmd.conf cannot (#, control)"
                                      : wsm_strerror(e));
        return 1;
    }
    /* Applied: systemd's reload, or SIGHUP to the wsmd found; either
     * opens the new listener (docs/internals/daemon.md, SIGHUP). */
    int live = 0;
    if (sc && sysctl("is-active") == 0)
        live = sysctl("reload") == 0 ? 1 : -1;
    else if (!sc && pid)
        live = kill((pid_t)pid, SIGHUP) == 0 ? 1 : -1;
    if (live == 1 && !wait_listening(p.port))
        live = -2;
    printf("\nWinRM has been updated for remote management.\n\n");
    printf("Created a WinRM listener on %s://* to accept WS-Man requests to any IP on this "
           "machine.\n",
           T);
    if (p.make_cert)
        printf("Created a self-signed certificate for %s: %s (key %s)\n", p.host, p.cert_path,
               p.key_path);
    if (tp[0])
        printf("CertificateThumbprint (SHA-1): %s\n", tp);
    int rc = 0;
    if (live == 1) {
        printf("wsmd reloaded its configuration and listens on 0.0.0.0:%d.\n", p.port);
    } else if (live == 0) {
        printf("wsmd is not running: the listener opens when it starts.\n");
    } else {
        fprintf(stderr,
                "winrm quickconfig: the configuration is written, but wsmd %s 0.0.0.0:%d within "
                "%d s: see its log (event=reload-refused, event=listener-error)\n",
                live == -1 ? "could not be told to reload, and does not listen on" : "did not open",
                p.port, RELOAD_WAIT_MS / 1000);
        rc = 1;
    }
    firewall_advice(p.port);
    return rc;
}

int winrm_quickconfig(int argc, char **argv)
{
    struct qc q;
    memset(&q, 0, sizeof(q));
    int help = 0;
    int rc = parse(argc, argv, &q, &help);
    if (rc >= 0)
        return rc;
    if (help) {
        winrm_quickconfig_help();
        return 0;
    }
    if (!may_configure()) {
        cli_print_fault(stderr, FMT_TEXT, ERROR_ACCESS_DENIED,
                        "Access is denied. winrm quickconfig changes wsmd's configuration on this "
                        "machine: run it as root or as a member of the group " ADMIN_GROUP ".");
        return 1;
    }
    if (!realpath(q.cfg, q.real)) {
        fail("cannot find wsmd's configuration file %s: %s (give another with -config:FILE)", q.cfg,
             strerror(errno));
        return 1;
    }
    const char *sc = systemctl();
    long pid = 0;
    if (stage_service(&q, sc, &pid) != 0)
        return 1;
    fflush(stdout);
    rc = stage_listener(&q, sc, pid);
    fflush(stdout);
    return rc;
}
