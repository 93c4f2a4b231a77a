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
#include "qc_priv.h"

#define DEFAULT_CONFIG "/etc/wsmd/wsmd.conf" /* what wsmd.service runs wsmd -c with */
#define ADMIN_GROUP "wsmd-admins"
#define ERROR_ACCESS_DENIED 5UL

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
    if (wsmd__qc_have_program("ufw")) {
        const char *argv[] = {"ufw", "status", NULL};
        if (wsmd__qc_run(argv, out, sizeof(out)) == 0 && strstr(out, "Status: active")) {
            printf("A firewall is active (ufw): to let WinRM requests in, run: ufw allow %d/tcp\n",
                   port);
            return;
        }
    }
    if (wsmd__qc_have_program("firewall-cmd")) {
        const char *argv[] = {"firewall-cmd", "--state", NULL};
        if (wsmd__qc_run(argv, out, sizeof(out)) == 0 && strstr(out, "running")) {
            printf("A firewall is active (firewalld): to let WinRM requests in, run: "
                   "firewall-cmd --permanent --add-port=%d/tcp && firewall-cmd --reload\n",
                   port);
            return;
        }
    }
    if (wsmd__qc_have_program("nft")) {
        const char *argv[] = {"nft", "list", "ruleset", NULL};
        if (wsmd__qc_run(argv, out, sizeof(out)) == 0 && strstr(out, "hook input")) {
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
        *pid = wsmd__qc_find_wsmd(q->real);
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
    int enabled = wsmd__qc_sysctl("is-enabled") == 0, active = wsmd__qc_sysctl("is-active") == 0;
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
    if (!enabled && wsmd__qc_sysctl("enable") != 0) {
        fail("systemctl enable %s failed%s", UNIT, "");
        return 1;
    }
    if (!active && wsmd__qc_sysctl("start") != 0) {
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
    if (wsmd__qc_read_config(q, why, sizeof(why)) != 0 ||
        wsmd__qc_plan_listener(q, &p, why, sizeof(why)) != 0) {
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
    enum wsm_err e = wsmd__cfgfile_write(q->real, wsmd__qc_apply_plan, &p);
    if (e) {
        fail("cannot write %s: %s", q->real,
             e == WSM_ERR_INVALID_ARG ? "a path holds a character wsmd.conf cannot (#, control)"
                                      : wsm_strerror(e));
        return 1;
    }
    /* Applied: systemd's reload, or SIGHUP to the wsmd found; either
     * opens the new listener (docs/internals/daemon.md, SIGHUP). */
    int live = 0;
    if (sc && wsmd__qc_sysctl("is-active") == 0)
        live = wsmd__qc_sysctl("reload") == 0 ? 1 : -1;
    else if (!sc && pid)
        live = kill((pid_t)pid, SIGHUP) == 0 ? 1 : -1;
    if (live == 1 && !wsmd__qc_wait_listening(p.port))
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
    const char *sc = wsmd__qc_systemctl();
    long pid = 0;
    if (stage_service(&q, sc, &pid) != 0)
        return 1;
    fflush(stdout);
    rc = stage_listener(&q, sc, pid);
    fflush(stdout);
    return rc;
}
