/* The client side of HTTP Negotiate: GSSAPI (MIT krb5, NTLM through
 * gss-ntlmssp) loaded with dlopen at the first handshake, one security
 * context per TCP connection, and WinRM message encryption of bodies
 * (multipart/encrypted, framed by mpenc.c) with that context.
 * docs/internals/client-transport.md, "Authentication". */
#ifndef WSM_GSS_CLIENT_H
#define WSM_GSS_CLIENT_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

enum wsm_gss_kind {
    WSM_GSS_SPNEGO,   /* "Negotiate", SPNEGO: Kerberos, else NTLM */
    WSM_GSS_NTLM,     /* "Negotiate", a raw NTLMSSP token (as pywinrm) */
    WSM_GSS_KERBEROS, /* "Kerberos", a raw Kerberos token */
};

/* A session's credentials: shared by its connections, acquired once. */
struct wsm_gss_cred;
/* One security context: one connection, one thread at a time. */
struct wsm_gss_ctx;

/* Copies the settings; loads and acquires nothing yet. user and password
 * may be NULL (the default credentials: the Kerberos ccache, or
 * gss-ntlmssp's NTLM_USER_FILE); host names the target, "HTTP@host"
 * (GSS_C_NT_HOSTBASED_SERVICE), unless spn is given ("service@host"). */
enum wsm_err wsm__gss_cred_new(enum wsm_gss_kind kind, const char *user, const char *password,
                               const char *host, const char *spn, struct wsm_gss_cred **out);
void wsm__gss_cred_free(struct wsm_gss_cred *c);
/* Replaces the target name ("service@host") before the first context. */
enum wsm_err wsm__gss_cred_set_spn(struct wsm_gss_cred *c, const char *spn);
/* Initiates from this keytab (a path GSSAPI opens) instead of the user's
 * credential cache; before the first context. */
enum wsm_err wsm__gss_cred_set_keytab(struct wsm_gss_cred *c, const char *path);
/* The HTTP scheme: "Negotiate" or "Kerberos". */
const char *wsm__gss_scheme(const struct wsm_gss_cred *c);
const char *wsm__gss_scheme_of_ctx(const struct wsm_gss_ctx *x);

/* A new context. Loads libgssapi_krb5 and acquires the credentials on
 * first use (thread-safe); WSM_ERR_AUTH with err set if that fails. */
enum wsm_err wsm__gss_ctx_new(struct wsm_gss_cred *c, struct wsm_gss_ctx **out, char *err,
                              size_t errlen);
void wsm__gss_ctx_free(struct wsm_gss_ctx *x);
/* Channel bindings for the handshake (RFC 5929 application data, e.g.
 * "tls-server-end-point:" + hash over https): before the first step. */
enum wsm_err wsm__gss_ctx_set_bindings(struct wsm_gss_ctx *x, const unsigned char *data,
                                       size_t len);

/* One step of the handshake with the server's token (in, inlen; NULL and
 * 0 for the first). *authz: the header line to send, "Authorization:
 * SCHEME TOKEN\r\n" (malloc'd), or NULL when there is nothing more to
 * send. *done: the context is established. WSM_ERR_AUTH (err says why)
 * when GSSAPI refuses. */
enum wsm_err wsm__gss_step(struct wsm_gss_ctx *x, const unsigned char *in, size_t inlen,
                           char **authz, int *done, char *err, size_t errlen);
/* Whether the established context can seal (confidentiality). */
int wsm__gss_can_seal(const struct wsm_gss_ctx *x);
/* Whether the established mechanism is NTLM (else Kerberos). */
int wsm__gss_is_ntlm(const struct wsm_gss_ctx *x);
/* Whether NTLM bodies are sealed by ntlmseal.c (nettle) rather than
 * gss_wrap/gss_unwrap; tests may ask for GSSAPI only before the first step. */
int wsm__gss_ntlm_fast(const struct wsm_gss_ctx *x);
void wsm__gss_ctx_gss_only(struct wsm_gss_ctx *x);

/* no_tab: the MIME part headers of sealed requests go without their
 * leading tab (what OMI 1.9.1 accepts; client-transport.md). */
void wsm__gss_ctx_set_no_tab(struct wsm_gss_ctx *x, int no_tab);
/* Seals plain (len > 0 bytes) as one multipart/encrypted part into out
 * (empty on entry); *content_type is the header value to send with it. */
enum wsm_err wsm__gss_seal(struct wsm_gss_ctx *x, const char *plain, size_t len,
                           struct wsm_buf *out, const char **content_type, char *err,
                           size_t errlen);
/* Unseals a multipart/encrypted (or x-multi-encrypted) body whose
 * Content-Type is content_type into out (empty on entry; its cap bounds
 * the plain text). WSM_ERR_NOT_FOUND when content_type is not an
 * encrypted one; WSM_ERR_AUTH (err says why) for a framing or unsealing
 * failure: the context must not be used any more. */
enum wsm_err wsm__gss_unseal(struct wsm_gss_ctx *x, const char *content_type,
                             const unsigned char *body, size_t len, struct wsm_buf *out, char *err,
                             size_t errlen);

#endif
