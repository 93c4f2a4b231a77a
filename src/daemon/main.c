/* wsmd: the WS-Management service.
 *
 *   wsmd [-c FILE] [--listen URL]... [--users FILE]
 *        [--tls-cert FILE --tls-key FILE]
 *   wsmd user add|del NAME --users FILE    (password on stdin)
 *   wsmd user list --users FILE
 */
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "auth.h"
#include "authz.h"
#include "certauth.h"
#include "authq.h"
#include "throttle.h"
#include "config.h"
#include "cgroup.h"
#include "engine.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "cimops.h"
#include "ipmi.h"
#endif
#include "server.h"
#include "negotiate.h"
#include "colconfig.h"
#include "collector.h"
#include "evsub.h"
#include "forwarder.h"
#include "privsep.h"
#include "reload.h"
#include "sdnotify.h"
#include "userfile.h"
#include "wsmconfig.h"
#include "wsmd_help.h"
#include "cfglisten.h"
#include "eventcreate.h"
#include "main_priv.h"

int wsmd__main_usage(FILE *f)
{
    fputs(WSMD_HELP_TEXT, f); /* man/wsmd.txt, the source of wsmd(8) too */
    return f == stderr ? 2 : 0;
}

/* A name left the user file. The shell engine's shell_kill_owner() is to
 * be called from here (finding 10e); until then the event is logged by
 * auth.c, and the name's cached credentials are already gone. */
/* A name left the user file: what runs as it ends (its shells here, or,
 * in a separated daemon's monitor, the commands it started for it). */
static void user_removed(void *arg, const char *user)
{
    struct wsmd_server *srv = arg;
    unsigned n = 0;
#ifdef WSMD_HAVE_SHELL
    if (srv->shells)
        shell_kill_owner(srv->shells, user, &n);
#endif
    n += wsmd__monitor_user_removed(user);
    wsmd__log("event=user-removed user=%s ended=%u", user, n);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "user") == 0)
        return wsmd__user_cmd(argc - 2, argv + 2);
    if (argc > 1 && strcasecmp(argv[1], "eventcreate") == 0)
        return wsmd__eventcreate_main(argc - 2, argv + 2);

    struct wsmd_server srv;
    memset(&srv, 0, sizeof(srv));
    wsmd__config_defaults(&srv.cfg);
    const char *cfgfile = NULL, *tls_cert = NULL, *tls_key = NULL;
    const char *listen[WSMD_MAX_LISTENERS];
    size_t nlisten = 0;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && v) {
            cfgfile = v;
            i++;
        } else if (strcmp(a, "--listen") == 0 && v) {
            if (nlisten == WSMD_MAX_LISTENERS) {
                fprintf(stderr, "wsmd: at most %d listeners\n", WSMD_MAX_LISTENERS);
                return 2;
            }
            listen[nlisten++] = v;
            i++;
        } else if (strcmp(a, "--users") == 0 && v) {
            free(srv.cfg.users_path);
            srv.cfg.users_path = strdup(v);
            i++;
        } else if (strcmp(a, "--tls-cert") == 0 && v) {
            tls_cert = v;
            i++;
        } else if (strcmp(a, "--tls-key") == 0 && v) {
            tls_key = v;
            i++;
        } else if (strcmp(a, "--max-envelope-size") == 0 && v) {
            if (wsmd__config_set(&srv.cfg, "MaxEnvelopeSize", v) != WSM_OK)
                return wsmd__main_usage(stderr);
            i++;
        } else if (strcmp(a, "--synthetic") == 0 && v) {
            /* Test and benchmark only: a class of N generated instances. */
            char *end;
            srv.cfg.synthetic = strtoul(v, &end, 10);
            if (end == v || *end)
                return wsmd__main_usage(stderr);
            i++;
        } else if (strcmp(a, "--allow") == 0 && v) {
            /* An Allow line (authz.h), added to the config file's. */
            if (wsmd__config_set(&srv.cfg, "Allow", v) != WSM_OK)
                return wsmd__main_usage(stderr);
            i++;
        } else if (strcmp(a, "--allow-unencrypted") == 0) {
            srv.cfg.allow_unencrypted = 1;
        } else if (strcmp(a, "--foreground") == 0 || strcmp(a, "-f") == 0) {
            /* Accepted and ignored, for old unit files and scripts: wsmd
             * always stays in the foreground (systemd Type=notify, tests);
             * a daemon that forks away is what systemd does not want. */
        } else if (strcmp(a, "--version") == 0) {
            printf("wsmd %s\n", WSM_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "-?") == 0 ||
                   strcmp(a, "/?") == 0) {
            return wsmd__main_usage(stdout);
        } else {
            fprintf(stderr, "wsmd: unknown argument %s\n", a);
            return wsmd__main_usage(stderr);
        }
    }
    if (cfgfile && wsmd__config_load(&srv.cfg, cfgfile) != WSM_OK)
        goto out;
    /* winrm/config writes rewrite this file (cfgset.c); resolved now, as
     * the working directory changes. */
    if (cfgfile)
        srv.cfg.config_path = realpath(cfgfile, NULL);
    wsmd__cfgl_set_file(cfgfile); /* winrm create|delete write to it (cfglisten.c) */
    for (size_t i = 0; i < nlisten; i++)
        if (wsmd__config_add_listener(&srv.cfg, listen[i]) != WSM_OK)
            goto out;
    if (srv.cfg.nlisteners == 0 &&
        wsmd__config_add_listener(&srv.cfg, "http://127.0.0.1:5985") != WSM_OK)
        goto out;
    /* The command line wins over the config file. */
    if ((tls_cert && wsmd__config_set(&srv.cfg, "CertificateFile", tls_cert) != WSM_OK) ||
        (tls_key && wsmd__config_set(&srv.cfg, "KeyFile", tls_key) != WSM_OK)) {
        rc = wsmd__main_usage(stderr);
        goto out;
    }
    if (wsmd__config_load_tls(&srv.cfg) != WSM_OK)
        goto out;
    if (wsmd__colconfig_finish(&srv.cfg) != WSM_OK)
        goto out;
#ifdef WSMD_HAVE_CIM
    if (wsmd__ipmi_setup(&srv.cfg) != WSM_OK) /* IpmiHosts: read here, as root when root */
        goto out;
#endif
    if (wsmd__certauth_new(&srv.cfg, geteuid() == 0, &srv.certauth) != WSM_OK)
        goto out;
    if (!srv.cfg.users_path && geteuid() != 0) {
        /* The embedded default: a user file beside the user's config. */
        const char *home = getenv("HOME");
        char path[4096];
        snprintf(path, sizeof(path), "%s/.config/wsmd/users", home && *home ? home : ".");
        srv.cfg.users_path = strdup(path);
        wsmd__log("event=notice message=\"not root and no --users: using %s\"", path);
    }

    wsmd__reload_setup(&srv, cfgfile, argc, argv);
    /* Blocked before the first thread, so that every thread inherits it
     * and only sigwait() below takes them: a SIGHUP or SIGTERM arriving
     * while the main thread is busy (a reload in progress) would
     * otherwise go to a thread that does not block it, and its default
     * action ends the process. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    xmlInitParser();
    /* A separated daemon forks below: no thread may exist before. */
    if (geteuid() == 0 && srv.cfg.privsep)
        wsmd__auth_defer_watcher();
    if (wsmd__auth_new(srv.cfg.users_path, srv.cfg.pam_service, &srv.auth) != WSM_OK) {
        fprintf(stderr, "wsmd: cannot load users from %s (see the line above)\n",
                srv.cfg.users_path ? srv.cfg.users_path : "PAM");
        goto out;
    }
    wsmd__auth_set_root_policy(srv.auth, srv.cfg.allow_root, geteuid() == 0);
    wsmd__auth_set_removed_cb(srv.auth, user_removed, &srv);
    struct wsmd_throttle_cfg tc = {
        .max_per_address = srv.cfg.auth_max_per_address,
        .max_per_user = srv.cfg.auth_max_per_user,
        .window_sec = srv.cfg.auth_window_sec,
        .lockout_sec = srv.cfg.auth_lockout_sec,
    };
    if (wsmd__throttle_new(&tc, WSMD_THROTTLE_SLOTS, &srv.throttle) != WSM_OK)
        goto out;
    if (srv.cfg.users_path || srv.cfg.krb5_keytab) {
        /* NTLM needs the NT hashes of the user file (wsmd user add);
         * Kerberos a keytab (Keytab). */
        struct wsmd_nego_config nc = {
            .users_path = srv.cfg.users_path,
            .kerberos = srv.cfg.krb5_keytab != NULL,
            .keytab = srv.cfg.krb5_keytab,
            .realm = srv.cfg.krb5_realm,
            .service = srv.cfg.service_principal,
            .cbt = srv.cfg.cbt_hardening,
            /* Sources authenticate as machines (WS1$@REALM). */
            .allow_unmapped = srv.cfg.subscriptions_dir != NULL,
        };
        enum wsm_err ne = wsmd__nego_new(&nc, &srv.nego);
        if (ne) {
            srv.nego = NULL;
            wsmd__log("event=notice message=\"Negotiate (NTLM, Kerberos) is not offered: %s (is "
                      "gss-ntlmssp installed? is the keytab there?)\"",
                      wsm_strerror(ne));
            if (srv.cfg.krb5_keytab) {
                fprintf(stderr,
                        "wsmd: Kerberos is configured but the keytab %s is missing or "
                        "empty\n",
                        srv.cfg.krb5_keytab);
                goto out;
            }
        } else if (srv.cfg.krb5_keytab && !wsmd__nego_has_kerberos(srv.nego)) {
            fprintf(stderr, "wsmd: the keytab %s is missing or empty\n", srv.cfg.krb5_keytab);
            goto out;
        }
        if (srv.nego && srv.cfg.tls_cert_pem && srv.cfg.cbt_hardening != WSMD_CBT_NONE) {
            /* Channel binding of Negotiate over HTTPS (CbtHardeningLevel). */
            ne = wsmd__nego_set_tls_cert(srv.nego, srv.cfg.tls_cert_pem);
            if (ne && srv.cfg.cbt_hardening == WSMD_CBT_STRICT) {
                fprintf(stderr,
                        "wsmd: CbtHardeningLevel=Strict, but no channel binding can be "
                        "computed for %s (%s)\n",
                        srv.cfg.tls_cert_path, wsm_strerror(ne));
                goto out;
            }
            if (ne)
                wsmd__log("event=notice message=\"no channel binding for the certificate: %s\"",
                          wsm_strerror(ne));
        }
    }

    {
        /* Before any shell or created process, and before the split: the
         * monitor makes wsmd's groups and hands them to the network
         * process (privsep.c). Never fatal. */
        char cg[PATH_MAX + 200];
        wsmd__cg_init(NULL, NULL, cg, sizeof(cg));
        wsmd__log("event=cgroups %s", cg);
        wsmd__create_limits.max_processes_per_user =
            srv.cfg.max_processes_per_user ? srv.cfg.max_processes_per_user : 100;
        wsmd__create_limits.max_memory_mb =
            srv.cfg.max_memory_per_shell_mb ? srv.cfg.max_memory_per_shell_mb : 1024;
    }
    srv.is_root = geteuid() == 0;
    {
        /* The collector's folders belong to whoever writes them: the
         * network process's account when separated. */
        uid_t cu = (uid_t)-1;
        gid_t cgid = (gid_t)-1;
        struct passwd *pw = srv.is_root && srv.cfg.privsep
                                ? getpwnam(srv.cfg.privsep_user ? srv.cfg.privsep_user : "wsmd")
                                : NULL;
        if (pw) {
            cu = pw->pw_uid;
            cgid = pw->pw_gid;
        }
        if (wsmd__collector_prepare_dirs(&srv.cfg, cu, cgid) != WSM_OK)
            goto out;
        if (wsmd__evs_prepare_dir(&srv.cfg, cu, cgid) != WSM_OK)
            goto out;
        /* The forwarder's keytab, key, credentials and bookmarks: opened
         * here, read by the network process (docs/internals/forwarder.md). */
        if (wsmd__fwd_prepare(&srv.cfg, (unsigned)cu, (unsigned)cgid) != WSM_OK)
            goto out;
    }
    if (srv.is_root && srv.cfg.privsep) {
        /* From here on this process is either the monitor, which returns
         * only to exit, or the unprivileged network process. */
        int mrc = -1;
        if (wsmd__privsep_start(&srv, &mrc) != WSM_OK)
            goto out;
        if (mrc >= 0) {
            rc = mrc;
            goto out;
        }
    }

    /* Threads start here, after the split: the network process's. */
    if (wsmd__authq_new(srv.auth, (unsigned)srv.cfg.threads, &srv.authq) != WSM_OK)
        goto out;
#ifdef WSMD_HAVE_CIM
    wsmd__enum_set_timeout(srv.cfg.enum_timeout_ms);
    wsmd__enum_set_budgets(srv.cfg.enum_budget_user_kb, srv.cfg.enum_budget_total_kb);
#endif
#ifdef WSMD_HAVE_SHELL
    struct shell_limits lim;
    wsmd__winrs_limits(&srv.cfg, &lim);
    if (shell_mgr_new(&lim, &srv.shells) != WSM_OK) {
        fprintf(stderr, "wsmd: cannot start the shell engine\n");
        goto out;
    }
    shell_mgr_set_end_hook(srv.shells, wsmd__shell_log_end);
#endif
    if (wsmd__authz_new(&srv.cfg, srv.is_root, &srv.authz) != WSM_OK)
        goto out;
    if (wsmd__collector_new(&srv, &srv.collector) != WSM_OK)
        goto out;
    wsmd__evs_start(&srv); /* the event source's subscriptions (evstore.c) */

    /* Fixed malloc thresholds instead of glibc's sliding ones: replies and
     * shell output buffers of a few hundred KB are made and freed all the
     * time, and with the sliding ones glibc kept handing their pages back
     * and faulting them in again (54,000 page faults in a 100 MB winrs
     * transfer over https, a fifth of the daemon's CPU). Buffers up to
     * 4 MiB come from the heap; up to 16 MiB of free heap is kept. */
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);

    signal(SIGPIPE, SIG_IGN);

    if (wsmd__fwd_start(&srv) != WSM_OK)
        goto stop;
    if (wsmd__http_start(&srv) != WSM_OK) {
        fprintf(stderr, "wsmd: cannot start the listeners (see the line above)\n");
        goto stop;
    }
    wsmd__reload_ready(&srv);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            /* The config file, certificate, keytab and user file
             * (reload.h); the collector reads its subscriptions again and
             * reopens its files. */
            wsmd__reload_signal(&srv);
            if (srv.collector)
                wsmd__collector_reload(srv.collector, NULL, 0);
            continue;
        }
        wsmd__log("event=stop signal=%d", sig);
        if (!wsmd__privsep_on())
            wsmd__sd_notify("STOPPING=1\nSTATUS=Stopping");
        break;
    }
    rc = 0;
stop:
    wsmd__fwd_stop(&srv);
    wsmd__http_quiesce(&srv);
    wsmd__authq_stop(srv.authq); /* resumes the requests it holds; new ones check inline */
    wsmd__http_stop(&srv);
out:
    wsmd__reload_free(); /* what reloads replaced: no connection is left */
    wsmd__collector_free(srv.collector);
    wsmd__evs_stop();
#ifdef WSMD_HAVE_CIM
    wsmd__enum_shutdown();
    cim_synthetic_cleanup();
    wsmd__ipmi_shutdown(); /* wsmd-ipmi closes its BMC sessions and ends */
    wsmd__ipmi_stop();     /* and is reaped by whoever started it */
    wsmd__ipmi_forget();
#endif
#ifdef WSMD_HAVE_SHELL
    shell_mgr_free(srv.shells);
#endif
    wsmd__authz_free(srv.authz);
    wsmd__cg_shutdown(2000);
    wsmd__nego_free(srv.nego);
    wsmd__certauth_free(srv.certauth);
    wsmd__authq_free(srv.authq); /* before the auth it checks with */
    wsmd__auth_free(srv.auth);
    wsmd__throttle_free(srv.throttle);
    wsmd__config_clear(&srv.cfg);
    xmlCleanupParser();
    /* A network process that never served tells its monitor not to start
     * another one (privsep.h). */
    if (rc != 0 && wsmd__privsep_on())
        rc = WSMD_EXIT_STARTUP;
    return rc;
}
