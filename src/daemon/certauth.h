/* Client-certificate authentication over HTTPS (WS-Management's
 * secprofile/https/mutual, WinRM's certificate mapping).
 *
 * Configuration (config file):
 *   ClientCAFile = FILE       PEM bundle of the CAs whose client certificates
 *                             are accepted; HTTPS listeners then ask for (do
 *                             not require) a client certificate.
 *   CertMapping = Issuer=THUMBPRINT|* Subject=PATTERN UserName=USER [AllowRoot=true]
 *                             one line per mapping, tried in file order.
 *
 * A request authenticates as USER when it carries
 *   Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual
 * on an HTTPS connection whose client certificate chains to a CA of
 * ClientCAFile, is within its validity, allows clientAuth (when it has an
 * extended key usage), was issued under the mapping's Issuer (SHA-1 or
 * SHA-256 thumbprint of a certificate of ClientCAFile; * = any of them) and
 * has a name matching PATTERN (the UPN or e-mail of its subjectAltName, or
 * the CN of its subject; "*" = any, "*suffix" = ends with suffix, otherwise
 * the whole name, ASCII case-insensitive). Anything else is 401. A mapping to
 * root (or, when wsmd runs as root, to any account of uid 0) needs
 * AllowRoot=true. See docs/internals/certauth.md. */
#ifndef WSMD_CERTAUTH_H
#define WSMD_CERTAUTH_H

#include <stddef.h>

#include "userfile.h"
#include "wsm/wsm.h"

struct MHD_Connection;
struct wsmd_config;
struct wsmd_certauth; /* the CAs and the mappings: read-only once made, shared */

#define WSMD_CERT_SCHEME "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
#define WSMD_CERTMAP_MAX_SUBJECT 256

/* One CertMapping line. */
struct wsmd_certmap {
    unsigned char issuer[32]; /* thumbprint of the issuing CA */
    size_t issuer_len;        /* 20 (SHA-1), 32 (SHA-256) or 0 (Issuer=*) */
    char subject[WSMD_CERTMAP_MAX_SUBJECT];
    char user[WSMD_MAX_USER];
    int allow_root;
};

/* Parses the value of a CertMapping line. On error says why in why[]. */
enum wsm_err wsmd__certmap_parse(const char *value, struct wsmd_certmap *out, char *why,
                                 size_t whylen);
/* 1 if name (len bytes, not NUL-terminated) matches pattern. Names with
 * control characters or NULs never match. */
int wsmd__certmap_match(const char *pattern, const char *name, size_t len);
/* Calls fn(arg, name, len) for each name of the DER certificate a mapping's
 * Subject is matched against (SAN UPNs, SAN e-mails, subject CNs), until fn
 * returns nonzero (then returns that). -1 if der is not a certificate. */
int wsmd__cert_names(const unsigned char *der, size_t len,
                     int (*fn)(void *arg, const char *name, size_t len), void *arg);

/* With ClientCAFile: reads it, checks every mapping against it (an Issuer
 * that is none of its certificates, a mapping to root without AllowRoot are
 * refused) and returns the state in *out; without: WSM_OK and *out NULL.
 * Says why on stderr. */
enum wsm_err wsmd__certauth_new(const struct wsmd_config *cfg, int is_root,
                                struct wsmd_certauth **out);
void wsmd__certauth_free(struct wsmd_certauth *ca);
/* The CA bundle (PEM text) for MHD_OPTION_HTTPS_MEM_TRUST; NULL if ca is. */
const char *wsmd__certauth_ca_pem(const struct wsmd_certauth *ca);

/* Replaces ca's mappings with cfg's (checked as at startup; says why on
 * stderr) and forgets every verdict: CertMapping changed live. */
enum wsm_err wsmd__certauth_replace_maps(struct wsmd_certauth *ca, const struct wsmd_config *cfg);

/* The same checks without a change (WSM_OK: replace_maps would succeed). */
enum wsm_err wsmd__certauth_check_maps(const struct wsmd_certauth *ca,
                                       const struct wsmd_config *cfg);

/* 1 if an Authorization header value is the mutual (client certificate)
 * profile. */
int wsmd__certauth_is_scheme(const char *authz);

/* The local user the client certificate of connection c maps to, or NULL
 * (no certificate, not verified, not mapped, ca NULL, not TLS). The verdict
 * is reached once per connection and kept, with the certificate's SHA-256,
 * until wsmd__certauth_forget(c); a refusal is logged once. Thread-safe (one
 * thread at a time per connection). */
const char *wsmd__certauth_user(struct wsmd_certauth *ca, struct MHD_Connection *c, char *user,
                                size_t usz);
/* The connection closed: drops its verdict. ca may be NULL. */
void wsmd__certauth_forget(struct wsmd_certauth *ca, struct MHD_Connection *c);

#endif
