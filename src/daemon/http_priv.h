/* Between the files of the HTTP front end: http.c (a request's path from
 * its first byte to its reply), httpgate.c (authentication, before the
 * body), httpreply.c (writing replies and faults, sealing, the log line),
 * httppark.c (long polls parked, the client-gone watcher, delivery
 * settled) and httplisten.c (libmicrohttpd daemons, TLS, start and stop). */
#ifndef WSMD_HTTP_PRIV_H
#define WSMD_HTTP_PRIV_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "envelope.h"
#include "server.h"
#include "userfile.h"

#define CT_SOAP "application/soap+xml;charset=UTF-8"
#define LOG_FIELD 256

struct req {
    struct wsmd_server *srv;
    const struct wsmd_listener *lis;
    struct timespec t0;
    char user[WSMD_MAX_USER]; /* empty: anonymous, or a principal only */
    /* The authenticated name (collector.h); set with user, or alone for a
     * principal with no local account on the collector's paths. */
    char principal[WSMD_MAX_PRINCIPAL];
    int col;                   /* enum wsmd_col_path of the URL */
    char path[LOG_FIELD];      /* the URL (collector paths name the subscription) */
    int anonymous;             /* WSMANIDENTIFY: unauthenticated */
    struct wsmd_nego_conn *nc; /* the connection's Negotiate state (NULL: not offered) */
    int nego_token;            /* a Negotiate token of this request completed the handshake */
    int sealed;                /* the body was encrypted: so is the reply */
    char *www;                 /* WWW-Authenticate to send (challenge or final token) */
    int deferred_401;          /* answer 401 once the body is read: keeps the connection */
    int deferred_basic;
    int responded;
    int op_held;     /* counted in MaxConcurrentOperationsPerUser (opquota.c) */
    unsigned status; /* of the response queued */
    int quiet;       /* a successful Receive: its command's end is logged instead */
    int too_big;
    int close;                       /* the framing is in doubt: answer and close */
    const char *content_type;        /* of the reply; NULL: SOAP */
    unsigned retry_after;            /* a throttled attempt: 503 with Retry-After */
    struct wsmd_authq_job *auth_job; /* a password check on the auth pool (suspended) */
    size_t discarded;
    struct wsm_buf body;
    char action[LOG_FIELD];
    char resource[LOG_FIELD];
    /* For the request's log line: the scheme tried, the name a refused
     * attempt gave, and why it was refused or faulted. */
    char scheme[64];
    char tried[WSMD_MAX_PRINCIPAL];
    char reason[LOG_FIELD];

    /* Long-poll state: the parsed request stays while the connection is
     * suspended. */
    struct MHD_Connection *conn;
    struct wsm_envelope *env;
    long long t0_ms;
    int parked;
    int shutdown; /* woken by wsmd__http_quiesce: answer, do not park again */
    unsigned long token;
    int (*unpark)(struct wsmd_server *srv, unsigned long token);
    void *resume_ctx;        /* the handler's note to its resumed run */
    struct req *prev, *next; /* in the server's parked list */
    uint64_t watch_id;       /* its id in the client-gone watcher */
    int watch_fd;            /* -1: not watched */
    int gone;                /* the client went away while parked: answer nothing */

    /* The reply hands over shell output: told whether it was written. */
    void (*settle)(void *arg, int delivered);
    void *settle_arg;
    void (*settle_probe)(void *arg, int (*probe)(void *), void *probe_arg);
};

/* Requests waiting in a long poll: for shutdown, and for the watcher that
 * ends those whose client went away (parkwatch.c). */
struct wsmd_parked {
    pthread_mutex_t lock;
    struct req *head;
    size_t count;
    struct wsmd_parkwatch *watch; /* NULL: none (then polls end at their deadline) */
    uint64_t next_id;
    int quiescing; /* shutdown began: a request that parks now is woken at once */
};

/* httpreply.c */
/* Queues the reply (body is taken, sealed like the request, and freed);
 * writes the request's log line the first time. */
enum MHD_Result wsmd__http_reply(struct MHD_Connection *c, struct req *r, unsigned status,
                                 char *body, size_t len, int basic_challenge);
enum MHD_Result wsmd__http_fault(struct MHD_Connection *c, struct req *r, enum wsm_err err,
                                 const char *relates_to, const char *msg);
/* "address:port" of the peer, for the log. */
void wsmd__http_peer(struct MHD_Connection *c, char *out, size_t n);
/* Copies s (at most LOG_FIELD - 1 bytes) for the log, replacing anything
 * that could forge a log line; "-" for none. */
void wsmd__http_log_copy(char *dst, const char *s);

/* httpgate.c */
/* The gate: decides from the headers alone, before the body is read. */
enum MHD_Result wsmd__http_gate(struct MHD_Connection *c, struct req *r, const char *url,
                                const char *method);
/* The resumed request of a password check done on the auth pool. */
enum MHD_Result wsmd__http_basic_resumed(struct MHD_Connection *c, struct req *r);
int wsmd__http_basic_allowed(const struct req *r);

/* httppark.c */
void wsmd__http_park_add(struct wsmd_server *srv, struct req *r);
void wsmd__http_park_del(struct wsmd_server *srv, struct req *r);
void wsmd__http_park_arm(struct wsmd_server *srv, struct req *r, struct MHD_Connection *c,
                         unsigned long token, int (*unpark)(struct wsmd_server *, unsigned long));
void wsmd__http_park_gone(void *ctx, uint64_t id);
int wsmd__http_peer_closed(struct MHD_Connection *c);
void wsmd__http_wake(void *arg);
/* A parked request whose client went away: its wait released, logged. */
void wsmd__http_abandoned(struct MHD_Connection *c, struct req *r);
/* The reply that handed over shell output has ended (ok: written whole):
 * settled now, or once the client's TCP has acknowledged it. */
void wsmd__http_settle(struct MHD_Connection *c, struct req *r, int ok);

/* http.c: libmicrohttpd's request callbacks. */
enum MHD_Result wsmd__http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls);
void wsmd__http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                             enum MHD_RequestTerminationCode toe);

#endif
