/* HTTP Negotiate authentication (NTLM, and Kerberos through the same
 * GSSAPI calls) and WinRM message encryption over the security context of
 * one TCP connection.
 *
 * GSSAPI is MIT krb5's; NTLM is the gss-ntlmssp mechanism, which checks
 * NTLM responses against the NT hashes of the wsmd user file (see
 * userfile.h and docs/internals/negotiate.md). The handshake is bound to
 * the connection: each TCP connection has its own wsmd_nego_conn, and a
 * token from one connection means nothing on another.
 *
 * Accepted Authorization headers: "Negotiate <b64>" with a raw NTLMSSP
 * token (what pywinrm/requests-ntlm send), a SPNEGO token, or a raw
 * Kerberos token; "NTLM <b64>" and "Kerberos <b64>" alike. Answers use the
 * scheme the client used. */
#ifndef WSMD_NEGOTIATE_H
#define WSMD_NEGOTIATE_H

#include <stddef.h>
#include <stdint.h>

#include "mpenc.h"
#include "wsm/wsm.h"

/* Channel binding of Negotiate over HTTPS (CbtHardeningLevel, as on
 * Windows): None never checks; Relaxed (the default) checks the bindings a
 * client sends and accepts a client that sends none; Strict refuses a
 * client that sends none. */
enum wsmd_cbt { WSMD_CBT_RELAXED = 0, WSMD_CBT_NONE, WSMD_CBT_STRICT };

struct wsmd_nego;      /* shared, thread-safe: the acceptor credentials */
struct wsmd_nego_conn; /* one connection's security context: one thread at a time */

struct wsmd_nego_config {
    /* NTLM: the wsmd user file, whose lines carry the NT hashes (wsmd user
     * add writes them). NULL: no NTLM. */
    const char *users_path;
    /* The acceptor's name, "service@host". NULL: "HTTP@" + gethostname().
     * For Kerberos it must match the keytab's principal (HTTP/host@REALM)
     * unless krb5.conf says ignore_acceptor_hostname = true. */
    const char *service;
    /* Kerberos (raw or inside SPNEGO): needs keys in the keytab. */
    int kerberos;
    const char *keytab; /* NULL: the default (KRB5_KTNAME or /etc/krb5.keytab) */
    /* Kerberos principals: NULL maps them with gss_localname (krb5.conf's
     * auth_to_local: by default user@DEFAULT.REALM -> user); a realm accepts
     * only user@REALM and strips the realm. With users_path, the resulting
     * name must also be a user of the file. */
    const char *realm;
    /* The event collector is on: a Kerberos principal with no local account
     * (a machine, WS1$@EXAMPLE.COM) still authenticates, with no user
     * (wsmd__nego_user NULL) but its principal (wsmd__nego_principal). */
    int allow_unmapped;
    /* enum wsmd_cbt: for connections marked with wsmd__nego_conn_set_tls,
     * once wsmd__nego_set_tls_cert has given the certificate. */
    int cbt;
};

/* Takes the configuration; loads nothing. libgssapi_krb5 (and through it
 * gss-ntlmssp and OpenSSL, some 3 MB of resident memory) is loaded, and the
 * acceptor credentials acquired, at the first Negotiate token.
 * WSM_ERR_UNSUPPORTED_FEATURE when nothing can be offered: no user file or
 * no NTLM mechanism registered in /etc/gss/mech.d (gss-ntlmssp), and no
 * Kerberos or no keytab. */
enum wsm_err wsmd__nego_new(const struct wsmd_nego_config *cfg, struct wsmd_nego **out);
void wsmd__nego_free(struct wsmd_nego *n);
/* What to advertise: 1 if NTLM (Kerberos) is configured and looks
 * available. Advertise "Negotiate" when either is. */
int wsmd__nego_has_ntlm(const struct wsmd_nego *n);
int wsmd__nego_has_kerberos(const struct wsmd_nego *n);
/* Loads GSSAPI and acquires the credentials now (tests; a daemon lets the
 * first token do it). 1 if anything can be accepted. Thread-safe. */
int wsmd__nego_load(struct wsmd_nego *n);

/* The HTTPS certificate (PEM, the first one is the server's): its
 * RFC 5929 "tls-server-end-point" channel binding data is computed once.
 * WSM_ERR_UNSUPPORTED_FEATURE when its signature algorithm defines no
 * binding (no hash, e.g. Ed25519), WSM_ERR_INVALID_ARG if unreadable. */
enum wsm_err wsmd__nego_set_tls_cert(struct wsmd_nego *n, const char *pem);
/* The binding data, "tls-server-end-point:" + the hash of the DER
 * certificate (with the certificate's signature hash; SHA-256 for MD5 and
 * SHA-1). Exposed for tests. *out is malloc'd. */
enum wsm_err wsmd__tls_end_point(const char *pem, unsigned char **out, size_t *len);

/* Per connection (MHD_OPTION_NOTIFY_CONNECTION's socket_context). */
struct wsmd_nego_conn *wsmd__nego_conn_new(struct wsmd_nego *n);
void wsmd__nego_conn_free(struct wsmd_nego_conn *c);
/* The connection is TLS: its handshakes are bound to the certificate
 * (gss_channel_bindings) as the configured CbtHardeningLevel says. */
void wsmd__nego_conn_set_tls(struct wsmd_nego_conn *c);

/* 1 if the Authorization value's scheme is Negotiate, NTLM or Kerberos. */
int wsmd__nego_is_scheme(const char *authz);

/* One leg of the handshake for the Authorization value authz.
 *  - WSM_OK, *done = 0: answer 401 with "WWW-Authenticate: *www" (the
 *    challenge) and keep the connection open;
 *  - WSM_OK, *done = 1: authenticated (wsmd__nego_user); if *www is not
 *    NULL, send it as WWW-Authenticate with the response (SPNEGO's and
 *    Kerberos' final token);
 *  - WSM_ERR_AUTH: refused (bad token, wrong password, unknown user, a
 *    continuation token on a connection that did not start the
 *    handshake): answer 401 with a bare "Negotiate" challenge. Any earlier
 *    authentication of the connection is dropped;
 *  - another error: internal failure (also a 401, or a 500).
 * *www is malloc'd (the caller frees it), NULL when there is nothing to send. */
enum wsm_err wsmd__nego_step(struct wsmd_nego_conn *c, const char *authz, char **www, int *done);

/* The established user (file entry name or local name), NULL if none. */
const char *wsmd__nego_user(const struct wsmd_nego_conn *c);
/* The authenticated name as proven (WS1$@EXAMPLE.COM, EXAMPLE\\user), or
 * NULL: the event collector's identity of a source. */
const char *wsmd__nego_principal(const struct wsmd_nego_conn *c);
/* "NTLM" or "Kerberos" once established, else NULL (for logs). */
const char *wsmd__nego_mech(const struct wsmd_nego_conn *c);
/* 1 once the context can seal (wrap with confidentiality). */
int wsmd__nego_can_seal(const struct wsmd_nego_conn *c);
/* 1 once an NTLM context seals with ntlmseal.c (nettle) instead of
 * gss_wrap/gss_unwrap (docs/internals/negotiate.md). For tests and logs. */
int wsmd__nego_ntlm_fast(const struct wsmd_nego_conn *c);
/* Tests: the handshakes of c leave NTLM sealing to GSSAPI. */
void wsmd__nego_conn_gss_only(struct wsmd_nego_conn *c);
/* Drops the context (the connection must authenticate again). */
void wsmd__nego_reset(struct wsmd_nego_conn *c);

/* 1 if a request Content-Type says the body is encrypted
 * (multipart/encrypted or multipart/x-multi-encrypted, any protocol). */
int wsmd__nego_body_encrypted(const char *content_type);

/* The Content-Length cap for an encrypted request carrying at most
 * max_envelope bytes of SOAP. */
size_t wsmd__nego_max_body(size_t max_envelope);

/* Unseals an encrypted request body (content_type as received). The
 * framing is checked (mpenc.h), then each part is unwrapped with
 * confidentiality and integrity and its length checked against its
 * OriginalContent Length. *plain is malloc'd and NUL-terminated. Errors:
 * WSM_ERR_UNSUPPORTED_MEDIA (framing), WSM_ERR_ENVELOPE_TOO_LARGE,
 * WSM_ERR_AUTH (no context, bad signature, not sealed, length mismatch:
 * the context is dropped, close the connection). */
enum wsm_err wsmd__nego_unwrap(struct wsmd_nego_conn *c, const char *content_type,
                               const unsigned char *body, size_t len, size_t max_plain,
                               char **plain, size_t *plain_len);

/* Seals a reply: *body (malloc'd) is the multipart/encrypted body and
 * *content_type (static) its Content-Type, with the protocol of the last
 * request unwrapped on the connection. len must not be 0 (WSM_ERR_INVALID_ARG):
 * an empty body is sent as it is, with no Content-Type to speak of. */
enum wsm_err wsmd__nego_wrap(struct wsmd_nego_conn *c, const char *plain, size_t len, char **body,
                             size_t *body_len, const char **content_type);

/* Privilege separation (docs/internals/privsep.md). The monitor runs the
 * handshake with its own wsmd_nego (keytab, NT hashes) and hands the
 * established context over: wsmd__nego_export (which deletes it there),
 * wsmd__nego_import in the network process, which then seals and unseals
 * itself. A remote wsmd_nego sends each leg to step (conn is the
 * connection's id: wsmd__nego_conn_id) and tells free_fn when a
 * connection with a handshake in progress goes. */
typedef enum wsm_err (*wsmd_nego_remote_step_fn)(uint64_t conn, int tls, const char *authz,
                                                 char **www, int *done, unsigned char **ctx,
                                                 size_t *ctx_len);
void wsmd__nego_set_remote(struct wsmd_nego *n, wsmd_nego_remote_step_fn step,
                           void (*free_fn)(uint64_t conn));
enum wsm_err wsmd__nego_export(struct wsmd_nego_conn *c, unsigned char **out, size_t *len);
enum wsm_err wsmd__nego_import(struct wsmd_nego_conn *c, const unsigned char *p, size_t len);
/* The user name an export carries ("" if malformed). */
const char *wsmd__nego_user_of_export(const unsigned char *p, size_t len);

/* Exposed for tests and the fuzz target: the token kinds. */
enum wsmd_nego_token {
    WSMD_TOKEN_BAD = 0,
    WSMD_TOKEN_NTLM_NEGOTIATE,  /* NTLMSSP\0, message type 1 */
    WSMD_TOKEN_NTLM_OTHER,      /* NTLMSSP\0, another type (3: authenticate) */
    WSMD_TOKEN_SPNEGO_INIT,     /* [APPLICATION 0] with the SPNEGO OID */
    WSMD_TOKEN_KRB5,            /* [APPLICATION 0] with the Kerberos OID */
    WSMD_TOKEN_SPNEGO_CONTINUE, /* [1] NegTokenResp */
};
enum wsmd_nego_token wsmd__nego_token_kind(const unsigned char *t, size_t n);
/* Splits "Scheme <base64>": the scheme (Negotiate, NTLM, Kerberos) into
 * scheme, the decoded token (malloc'd) into *tok. WSM_ERR_AUTH if
 * malformed, not one of the schemes, empty or over 64 KiB. */
enum wsm_err wsmd__nego_parse_header(const char *authz, char *scheme, size_t ssz,
                                     unsigned char **tok, size_t *toklen);
/* 1 and the user name (lower-case ASCII, no domain) if authz carries an
 * NTLM authenticate message (raw or in SPNEGO): for throttling per name
 * before the guess is checked. */
int wsmd__nego_ntlm_user(const char *authz, char *out, size_t osz);

#endif
