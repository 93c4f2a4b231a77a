/* libwsm client internals shared by client.c, client_session.c,
 * shell_client.c and the other request builders (the transport's own
 * pieces are in client_priv.h). */
#ifndef WSM_CLIENT_INTERNAL_H
#define WSM_CLIENT_INTERNAL_H

#include <stddef.h>

#include "buf.h"
#include "envelope.h"
#include "http.h"
#include "wsm/wsm.h"

#define WSM_DEFAULT_OPERATION_TIMEOUT_MS 60000L

/* One connection of a session: http.c (http:// and https://, the latter
 * over tls.c's GnuTLS) or libcurl (a proxy configured in the
 * environment), loaded at run time. */
struct wsm_conn;
struct wsm_gss_cred;
struct wsm_tls_config;

struct wsm_session {
    char *url;
    char *user;
    char *password;
    enum wsm_auth auth;
    long timeout_ms;
    size_t max_envelope;       /* w:MaxEnvelopeSize we send */
    long operation_timeout_ms; /* w:OperationTimeout we send */
    int skip_ca_check;
    int skip_cn_check;
    int receive_ahead;     /* "ReceiveAhead": shells fetch the next Receive early */
    int allow_unencrypted; /* "AllowUnencrypted": no message encryption over http:// */
    int https;
    int use_curl;               /* a proxy from the environment */
    struct wsm_tls_config *tls; /* https:// without a proxy: made at the first connection */
    struct wsm_http_target target;
    char *auth_header;          /* "Authorization: Basic ...\r\n" or NULL */
    struct wsm_gss_cred *gss;   /* Negotiate, NTLM, Kerberos: the credentials */
    char *cert_file, *key_file; /* "CertificateFile", "KeyFile" (https, certificate auth) */
    char *ca_file;              /* "CAFile": trust these instead of the system's CAs */
    struct wsm_conn *conn;      /* the session's own connection (made on first use) */
    char *extra_headers;        /* wsm__session_set_body_format; NULL: none */
    char *body_type;            /* its Content-Type; NULL: SOAP in UTF-8 */
    char error[512];
    unsigned long fault_code;
    char fault_subcode[64];       /* local name of s:Subcode/s:Value, e.g. "TimedOut" */
    struct wsm__fault_rec *fault; /* the last fault in parts (fault_read.c); NULL: none */
    char *last_reply;             /* the last reply that could not be used; NULL: none */
    size_t last_reply_len;
};

/* POSTs body (len bytes) to the session's URL. On success *env holds the
 * parsed reply (HTTP 200, no fault) and *raw the bytes if raw is not NULL.
 * If message_id is not NULL, the reply's a:RelatesTo must equal it
 * (WSM_ERR_BAD_HEADER otherwise); a fault without RelatesTo is still
 * reported as the fault. A fault gives WSM_ERR_FAULT with the session's
 * error text, fault code and subcode set. */
enum wsm_err wsm__post(wsm_session *s, const char *body, size_t len, int anonymous,
                       const char *message_id, struct wsm_envelope **env, char **raw);

/* wsm__post of a request built into b, where built is the first error
 * met while writing it (the request is then not sent, and the session's
 * error text says so). Frees b. */
enum wsm_err wsm__post_built(wsm_session *s, struct wsm_buf *b, enum wsm_err built,
                             const char *message_id, struct wsm_envelope **env);

/* How the bodies the caller gives wsm__conn_post are encoded, for an event
 * source that sends UTF-16 and SLDC: content_type replaces the SOAP UTF-8
 * type of plain requests (sealed ones keep the multipart type) and headers
 * ("Name: value\r\n" lines, such as "Content-Encoding: SLDC\r\n") go with
 * every request that has a body. NULL restores the default. */
enum wsm_err wsm__session_set_body_format(wsm_session *s, const char *content_type,
                                          const char *headers);

/* fault_read.c: reads the fault in env (its code, subcode, reason,
 * WSManFault, FaultDetail, CIM error) into the session's record, error
 * text and fault code (the subcode's Windows number when there is no
 * WSManFault code). */
void wsm__fault_read(wsm_session *s, struct wsm_envelope *env, long status);
/* Forgets the last fault and failed reply. */
void wsm__fault_clear(wsm_session *s);
/* Forgets the last error altogether: its text, fault code and subcode,
 * and (wsm__fault_clear) the fault and failed reply. Every request, and
 * every error found before one is sent, starts so. */
void wsm__session_forget_errors(wsm_session *s);
/* Keeps a copy of a reply that could not be used (up to 1 MiB). */
void wsm__session_keep_reply(wsm_session *s, const char *data, size_t len);
/* The Windows number for a subcode or code such as "wsa:DestinationUnreachable"
 * (by local name), or 0. */
unsigned long wsm__fault_subcode_code(const char *qname);
/* "CIM_ERR_NOT_FOUND" for 6; NULL for an unknown number. */
const char *wsm__cim_status_name(long code);

/* srvquirk.c: whether the server of t takes sealed bodies only without
 * the tab before their MIME part headers (OMI 1.9.1), as learnt earlier
 * in this process; and to remember that it does. */
int wsm__quirk_no_tab(const struct wsm_http_target *t);
void wsm__quirk_set_no_tab(const struct wsm_http_target *t);

/* Sets the session's error text. */
void wsm__session_errorf(wsm_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the pieces of wsm__post, for callers that read replies their own
 * way (shell_client.c's Receive) ---- */

/* A new connection for s (not connected yet). It reads the session's
 * settings at each request: they must not change while it is in use. */
enum wsm_err wsm__conn_new(const wsm_session *s, struct wsm_conn **out);
void wsm__conn_free(struct wsm_conn *c);
/* From another thread: makes the request in progress on c (and any later
 * one) fail soon. */
void wsm__conn_abort(struct wsm_conn *c);
/* The session's connection kept, its buffers freed (wsm__http_conn_idle):
 * for sessions idle most of the time. Not while a request is in progress. */
void wsm__session_idle(wsm_session *s);
/* The HTTP exchange only: resp (empty; its cap bounds the body) gets the
 * body and *status the HTTP status. A transport error is WSM_ERR_HTTP with
 * err set; thread-safe for distinct connections of one session. */
enum wsm_err wsm__conn_post(const wsm_session *s, struct wsm_conn *c, const char *body, size_t len,
                            int anonymous, struct wsm_buf *resp, long *status, char *err,
                            size_t errlen);
/* Called by wsm__conn_post_notify once the reply's bytes are all in (its
 * HTTP status and its length as sent), before they are unsealed: from
 * then on another connection may send the next request. Not called when
 * the exchange fails or the request is sent again. */
struct wsm_arrived {
    void (*fn)(void *ud, long status, size_t len);
    void *ud;
};
enum wsm_err wsm__conn_post_notify(const wsm_session *s, struct wsm_conn *c, const char *body,
                                   size_t len, int anonymous, struct wsm_buf *resp, long *status,
                                   char *err, size_t errlen, const struct wsm_arrived *arrived);
/* Whether the session's bodies are sealed (Negotiate, NTLM, Kerberos
 * over http:// unless AllowUnencrypted). */
int wsm__session_seals(const wsm_session *s);
/* Whether a is Negotiate, NTLM or Kerberos: a GSSAPI handshake
 * (client_gss.c). */
int wsm__auth_is_gss(enum wsm_auth a);
/* The body cap wsm__post uses: MaxEnvelopeSize and some slack, at least
 * 64 MiB. */
size_t wsm__reply_cap(const wsm_session *s);
/* What wsm__post does with a reply once it has it: 401, parsing, the
 * RelatesTo check, faults. */
enum wsm_err wsm__reply_check(wsm_session *s, const char *data, size_t len, long status,
                              const char *message_id, struct wsm_envelope **env);

#endif
