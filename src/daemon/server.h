/* The daemon's shared state and the interface between the HTTP layer and
 * the handlers. */
#ifndef WSMD_SERVER_H
#define WSMD_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "envelope.h"
#include "wsm/wsm.h"

#define WSMD_MAX_LISTENERS 8
/* The longest OperationTimeout honoured (a Receive waits at most this
 * long): winrm/config MaxTimeoutms. */
#define WSMD_MAX_TIMEOUT_MS 600000

struct wsmd_auth;
struct wsmd_nego;
struct wsmd_certauth;
struct wsmd_connguard;
struct wsmd_throttle;
struct wsmd_authq;

struct wsmd_listener {
    char url[256];  /* as given */
    char host[128]; /* address to bind */
    int port;
    int https;
    int loopback; /* bound to a loopback address */
    int lfd;      /* with has_lfd: bound already (by the privsep monitor) */
    int has_lfd;
    int metrics; /* MetricsListen: GET /metrics only (the collector's) */
    /* Deleted over WS-Management (cfglisten.c): accepts nothing new, not
     * listed; the slot is reused once its last connection ends. */
    int deleted;
    /* ProxyProtocol on this listener: proxyaccept.c accepts (proxyproto.h) */
    int proxy;
    struct wsmd_proxy_acceptor *pa;
    struct MHD_Daemon *mhd;
    struct wsmd_server *srv;
};

struct wsmd_config {
    struct wsmd_listener listeners[WSMD_MAX_LISTENERS];
    size_t nlisteners;
    /* HTTPS listeners: one certificate (chain) and key for all of them. The
     * paths come from --tls-cert/--tls-key or CertificateFile/KeyFile; the
     * PEM texts are read at startup by wsmd__config_load_tls. */
    char *tls_cert_path;
    char *tls_key_path;
    char *tls_cert_pem;
    char *tls_key_pem; /* zeroed before it is freed */
    char *users_path;  /* NULL: PAM (root only) */
    char *pam_service; /* default "wsmd" */
    size_t max_envelope;
    int allow_unencrypted; /* Basic/unencrypted bodies on non-loopback HTTP */
    int basic_off;         /* AuthBasic = false: Basic refused everywhere (service/auth) */
    long max_timeout_ms;   /* MaxTimeoutms; 0: WSMD_MAX_TIMEOUT_MS */
    char *config_path;     /* wsmd -c FILE, resolved: what winrm/config writes rewrite */
    int threads;
    unsigned max_connections; /* per listener; 0: sized from RLIMIT_NOFILE */
    /* Connection guard (connguard.h); 0: its default. */
    unsigned max_conn_per_addr; /* MaxConnectionsPerAddress */
    long header_timeout_ms;     /* HeaderTimeoutms */
    char *proxy_protocol;       /* ProxyProtocol: a boolean or listener URLs (proxyproto.h) */
    long body_timeout_ms;       /* BodyTimeoutms */
    size_t max_anon_envelope;   /* MaxAnonymousEnvelopeSize: WSMANIDENTIFY bodies */
    unsigned long synthetic;    /* test/bench: instances of WSMD_Synthetic (0: none) */
    /* winrm/config/winrs; 0: Windows' default. */
    unsigned max_shells_per_user;
    unsigned max_processes_per_shell;
    long idle_timeout_ms;
    unsigned max_memory_per_shell_mb;
    /* Windows' other quotas (docs/internals/shell.md "Quotas"); 0: default. */
    unsigned max_concurrent_users;    /* Winrs/MaxConcurrentUsers */
    long max_shell_run_time_ms;       /* Winrs/MaxShellRunTime */
    unsigned max_commands_per_shell;  /* MaxConcurrentCommandsPerShell */
    unsigned max_operations_per_user; /* Service/MaxConcurrentOperationsPerUser */
    /* MaxBufferedOutputMB, MaxBufferedOutputPerUserMB: shell output and
     * input buffers of everyone, of one user (0: the engine's default). */
    unsigned max_buffered_output_mb;
    unsigned max_buffered_output_user_mb;
    unsigned max_processes_per_user; /* Win32_Process.Create; 0: 100 */
    /* MaxSubscriptionsPerUser: event log subscriptions of one user
     * (docs/internals/eventlog.md); 0: 100. */
    unsigned max_subscriptions_per_user;
    long enum_timeout_ms; /* EnumerationTimeoutms; 0: 240000 */
    /* MaxEnumerationMemoryPerUserKB, MaxEnumerationMemoryKB: what
     * enumeration contexts may hold (enumctx.c); 0: 16384, 131072. */
    unsigned long enum_budget_user_kb;
    unsigned long enum_budget_total_kb;
    /* Client certificates (certauth.h): ClientCAFile, and the CertMapping
     * lines as written (each checked by wsmd__certmap_parse when set). */
    char *client_ca_path;
    char **cert_mappings;
    size_t ncert_mappings;
    /* Kerberos (docs/internals/negotiate.md): Keytab enables it;
     * KerberosRealm (NULL: krb5.conf's auth_to_local), ServicePrincipal
     * ("HTTP@host"; NULL: HTTP@ + the host name). */
    char *krb5_keytab;
    char *krb5_realm;
    char *service_principal;
    int cbt_hardening; /* CbtHardeningLevel: enum wsmd_cbt (0: Relaxed) */
    /* PrivilegeSeparation (as root; docs/internals/privsep.md): 1 (the
     * default) or 0; PrivilegeSeparationUser (NULL: "wsmd"). */
    int privsep;
    char *privsep_user;
    int log_receives; /* LogReceives: a line per successful Receive too (debugging) */
    /* Authorization (authz.h): the Allow lines as written, each checked
     * by wsmd__authz_check_rule when set; none: the defaults. */
    char **allow;
    size_t nallow;
    /* Authentication (docs/internals/auth-throttle.md): AllowRoot (uid 0
     * from any path), MaxAuthFailuresPerAddress / PerUser (0: off),
     * AuthFailureWindowSec, AuthLockoutSec. */
    int allow_root;
    int log_level; /* LogLevel (log.h priority); 0: not set, info */
    unsigned auth_max_per_address;
    unsigned auth_max_per_user;
    unsigned auth_window_sec;
    unsigned auth_lockout_sec;
    /* The event collector (src/collector/colconfig.c): Subscriptions turns
     * it on; EventLogDir, StateDir, SyslogTarget. */
    char *subscriptions_dir;
    char *event_log_dir;
    char *state_dir;
    char *syslog_target;
    char *nats_output;       /* NatsOutput (src/collector/natsout.h) */
    char *metrics_listen;    /* MetricsListen: http://ADDRESS:PORT */
    char *state_database;    /* StateDatabase: postgresql://... (state_pg.c); NULL: SQLite */
    char *collector_address; /* CollectorAddress: HOST[:PORT] NotifyTo names; NULL: Host */
    /* The same folders as the network process reaches them when separated:
     * "/proc/self/fd/N" of a descriptor the monitor opened, so that no
     * parent folder need let the unprivileged account through (a 0700
     * mktemp folder, /root/...). NULL: the paths above. */
    char *state_dir_open;
    char *event_log_dir_open;
    char *subscriptions_dir_open; /* read only: not given to the account */
    /* The event source (src/evsrc; docs/internals/evsrc.md): JournalDirectory,
     * a folder of journal files read instead of the system journal. */
    char *journal_dir;
    /* IpmiHosts: the remote BMCs' file (docs/internals/ipmi.md); NULL: none. */
    char *ipmi_hosts;
    /* The forwarder (src/forwarder; docs/internals/forwarder.md):
     * EventForwarding and the Forwarder* keys; NULL: none. */
    struct wsmd_fwdcfg *fwd;
};

struct shell_mgr;
struct wsmd_authz;

struct wsmd_server {
    struct wsmd_config cfg;
    struct wsmd_auth *auth;
    struct wsmd_nego *nego; /* NULL: no Negotiate (NTLM, Kerberos) */
    /* Client certificates (ClientCAFile); NULL: none. */
    struct wsmd_certauth *certauth;
    struct wsmd_throttle *throttle; /* failed logins per address and user */
    struct wsmd_authq *authq;       /* password checks off the HTTP workers */
    struct shell_mgr *shells;
    struct wsmd_authz *authz; /* who may do what (authz.h) */
    int is_root;
    struct wsmd_parked *parked;       /* requests waiting (long-poll), for shutdown */
    struct wsmd_connguard *guard;     /* per-address limits, deadlines (connguard.h) */
    struct wsmd_collector *collector; /* NULL: no Subscriptions folder (collector.h) */
    struct wsmd_forwarder *forwarder; /* src/forwarder; NULL: off */
};

typedef void (*wsmd_wake_fn)(void *arg);

/* One authenticated (or anonymous Identify) SOAP request. */
struct wsmd_call {
    struct wsmd_server *srv;
    const struct wsmd_listener *lis;
    struct wsm_envelope *env;
    const char *user; /* NULL: anonymous, or a principal with no local account */
    /* The authenticated name as proven (WS1$@EXAMPLE.COM, a certificate's
     * CN, the user): who a source is to the event collector. */
    const char *principal;
    const char *path;            /* the request's URL path */
    int col;                     /* enum wsmd_col_path (collector.h) */
    struct MHD_Connection *conn; /* the peer's address, the Host header */
    unsigned http_status;        /* set by a handler: 204 = no body; 0 = 200 */
    struct wsm_buf *out;
    const char *fault_message; /* optional text for the fault a handler returns */
    long long t0_ms;           /* CLOCK_MONOTONIC ms when the request arrived */
    int resumed;               /* called again after a park */

    /* A handler that has to wait (a Receive with no output yet) sets park
     * and returns WSM_OK with nothing written. The HTTP layer then
     * suspends the connection, holding no thread, and calls park(call,
     * wake, arg, &token); wake(arg) resumes the request and the handler
     * is called again with resumed set. unpark(srv, token) cancels a wait
     * that has not fired (1) or tells that it has (0). */
    enum wsm_err (*park)(struct wsmd_call *call, wsmd_wake_fn wake, void *arg,
                         unsigned long *token);
    int (*unpark)(struct wsmd_server *srv, unsigned long token);

    /* A handler whose reply hands over something that must not be lost
     * (a Receive's output) sets settle: the HTTP layer calls
     * settle(settle_arg, delivered) exactly once, with delivered = 1 only
     * when the whole reply was written to the connection. */
    void (*settle)(void *arg, int delivered);
    void *settle_arg;
    /* Optional: "written, not yet acknowledged by the client's TCP";
     * probe(probe_arg) tells (1 yes, 0 not yet, -1 lost) until settle
     * comes. For whoever wants to know sooner (the next Receive). */
    void (*settle_probe)(void *arg, int (*probe)(void *), void *probe_arg);
    int quiet; /* a success not logged on its own line (Receive) */
    /* A parked handler's own note to its resumed run (kept by the HTTP
     * layer between the two). */
    void *resume_ctx;
};

typedef enum wsm_err (*wsmd_handler)(struct wsmd_call *call);

/* Finds and runs the handler for call->env (Action x ResourceURI). On
 * success call->out holds the whole reply envelope. */
enum wsm_err wsmd__dispatch(struct wsmd_call *call);

/* Handlers. */
enum wsm_err wsmd__identify(struct wsmd_call *call);
enum wsm_err wsmd__shell_create(struct wsmd_call *call);
enum wsm_err wsmd__shell_delete(struct wsmd_call *call);
enum wsm_err wsmd__shell_command(struct wsmd_call *call);
enum wsm_err wsmd__shell_send(struct wsmd_call *call);
enum wsm_err wsmd__shell_receive(struct wsmd_call *call);
enum wsm_err wsmd__shell_signal(struct wsmd_call *call);
/* src/shell/handlers_mgmt.c: Disconnect/Reconnect/Connect, shell management. */
enum wsm_err wsmd__shell_disconnect(struct wsmd_call *call);
enum wsm_err wsmd__shell_reconnect(struct wsmd_call *call);
enum wsm_err wsmd__shell_connect(struct wsmd_call *call);
enum wsm_err wsmd__shell_get(struct wsmd_call *call);
enum wsm_err wsmd__shell_enumerate(struct wsmd_call *call);
#define WSMD_SHELL_MGMT_URI "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
struct shell_cmd_end;
/* The engine's end-of-command hook: one log line per command. */
void wsmd__shell_log_end(const struct shell_cmd_end *e);
#define WSMD_SHELL_URI "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

/* Binds and listens on l's address (l->lfd, has_lfd; port 0 becomes the
 * port chosen). -1 with why = "cannot listen on ADDR:PORT: REASON". */
int wsmd__bind_listener(struct wsmd_listener *l, char *why, size_t whylen);

/* HTTP listeners. */
enum wsm_err wsmd__http_start(struct wsmd_server *srv);
/* Ends waits of parked requests so that the listeners can stop. */
void wsmd__http_quiesce(struct wsmd_server *srv);
void wsmd__http_stop(struct wsmd_server *srv);
/* One listener started or quiesced while the others serve (cfglisten.c). */
enum wsm_err wsmd__http_listener_start(struct wsmd_server *srv, struct wsmd_listener *l);
int wsmd__http_listener_quiesce(struct wsmd_listener *l);
unsigned wsmd__http_listener_connections(struct wsmd_listener *l);

/* One log line per event, key=value, to stderr. */
void wsmd__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same, at most per_sec lines a second for one kind of line: what
 * anyone can cause at will (refused connections, a subverted network
 * process's requests) must not write the log at their rate. The next line
 * kept tells how many were dropped. */
struct wsmd_lograte {
    pthread_mutex_t lock;
    time_t second;
    unsigned lines, dropped;
};
#define WSMD_LOGRATE_INIT                                                                          \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, 0, 0, 0                                                         \
    }
void wsmd__log_limited(struct wsmd_lograte *lr, unsigned per_sec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
