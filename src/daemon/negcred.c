/* HTTP Negotiate, the service's side of GSSAPI: the configuration, the
 * credentials (NTLM from the user file, Kerberos from the keytab, SPNEGO
 * over both) acquired once, and the fields read from NTLM tokens before
 * gss sees them: channel bindings (RFC 5929 tls-server-end-point) and the
 * user an authenticate message names. */
#include "negotiate.h"

#include <dirent.h>
#include <dlfcn.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "buf.h"
#include "gssload.h"
#include "krb5hint.h"
#include "ntlmseal.h"
#include "server.h"
#include "userfile.h"
#include "negotiate_priv.h"

/* ---- credentials ------------------------------------------------------- */

static gss_cred_id_t acquire(gss_name_t name, gss_OID mech, gss_key_value_set_desc *store,
                             const char *what)
{
    OM_uint32 maj, min;
    gss_OID_set_desc mechs = {1, mech};
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    maj = wsm__gss.acquire_cred_from(&min, name, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT,
                                     store && store->count ? store : GSS_C_NO_CRED_STORE, &cred,
                                     NULL, NULL);
    if (GSS_ERROR(maj)) {
        wsmd__nego_log_gss(what, maj, min);
        return GSS_C_NO_CREDENTIAL;
    }
    return cred;
}

/* Is a GSSAPI mechanism with this OID registered (MIT reads /etc/gss/mech
 * and /etc/gss/mech.d/ *.conf)? A look at the text, without loading
 * anything. */
static int mech_registered(const char *oid)
{
    static const char *const files[] = {"/etc/gss/mech"};
    char path[512], line[512];
    int found = 0;
    DIR *d = opendir("/etc/gss/mech.d");
    for (size_t i = 0; !found && (i < 1 || d); i++) {
        FILE *f = NULL;
        if (i == 0) {
            f = fopen(files[0], "re");
        } else {
            struct dirent *de = readdir(d);
            if (!de)
                break;
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".conf") != 0)
                continue;
            snprintf(path, sizeof(path), "/etc/gss/mech.d/%s", de->d_name);
            f = fopen(path, "re");
        }
        while (f && !found && fgets(line, sizeof(line), f)) {
            char *p = line;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '#')
                continue;
            char *o = strstr(p, oid);
            found = o && (o[strlen(oid)] == ' ' || o[strlen(oid)] == '\t');
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return found;
}

enum wsm_err wsmd__nego_new(const struct wsmd_nego_config *cfg, struct wsmd_nego **out)
{
    struct wsmd_nego *n = calloc(1, sizeof(*n));
    if (!n)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&n->lock, NULL);
    n->cred_ntlm = n->cred_krb5 = n->cred_spnego = GSS_C_NO_CREDENTIAL;
    char svc[300];
    if (cfg->service) {
        snprintf(svc, sizeof(svc), "%s", cfg->service);
    } else {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0)
            strcpy(host, "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(svc, sizeof(svc), "HTTP@%s", host);
    }
    n->service_given = cfg->service != NULL;
    n->allow_unmapped = cfg->allow_unmapped;
    n->cbt_level = cfg->cbt;
    if ((cfg->users_path && !(n->users_path = strdup(cfg->users_path))) ||
        (cfg->realm && !(n->realm = strdup(cfg->realm))) ||
        (cfg->keytab && !(n->keytab = strdup(cfg->keytab))) || !(n->service = strdup(svc))) {
        wsmd__nego_free(n);
        return WSM_ERR_NOMEM;
    }
    n->want_ntlm = n->users_path && mech_registered("1.3.6.1.4.1.311.2.2.10");
    if (cfg->kerberos) {
        const char *kt = cfg->keytab ? cfg->keytab : getenv("KRB5_KTNAME");
        if (!kt)
            kt = "/etc/krb5.keytab";
        if (strncmp(kt, "FILE:", 5) == 0)
            kt += 5;
        struct stat st;
        n->want_krb5 = strchr(kt, ':') || (stat(kt, &st) == 0 && st.st_size > 0);
    }
    if (!n->want_ntlm && !n->want_krb5) {
        wsmd__nego_free(n);
        return WSM_ERR_UNSUPPORTED_FEATURE;
    }
    *out = n;
    return WSM_OK;
}

/* Loads GSSAPI and acquires the acceptor credentials, once. 1 if anything
 * can be accepted. */
int wsmd__nego_acquire_all(struct wsmd_nego *n)
{
    OM_uint32 maj, min;
    pthread_mutex_lock(&n->lock);
    if (n->acquired)
        goto out;
    n->acquired = 1;
    if (!wsm__gss_load()) {
        wsmd__log("event=negotiate-error step=load message=\"%s\"", wsm__gss_load_error());
        goto out;
    }
    gss_buffer_desc nb = {strlen(n->service), n->service};
    gss_name_t name = GSS_C_NO_NAME;
    maj = wsm__gss.import_name(&min, &nb, &wsm__oid_nt_hostbased, &name);
    if (GSS_ERROR(maj)) {
        wsmd__nego_log_gss("import-service-name", maj, min);
        goto out;
    }
    /* "@host": the host without a service, for NTLM. gss-ntlmssp puts the
     * service name of its acceptor (HTTP/host) in its CHALLENGE as
     * MsvAvTargetName, which Windows servers never send, and its own
     * initiator then refuses any target but that name (a client given the
     * address, or localhost). Without one it names the host only, as
     * Windows does. */
    gss_name_t host = GSS_C_NO_NAME;
    const char *at = strchr(n->service, '@');
    if (at && at[1]) {
        gss_buffer_desc hb = {strlen(at), (void *)at};
        maj = wsm__gss.import_name(&min, &hb, &wsm__oid_nt_hostbased, &host);
        if (GSS_ERROR(maj))
            host = GSS_C_NO_NAME;
    }
    gss_key_value_element_desc el[2];
    gss_key_value_set_desc store = {0, el};
    if (n->want_ntlm) {
        el[store.count].key = CS_NTLM_KEYFILE;
        el[store.count++].value = n->users_path;
        gss_key_value_set_desc s1 = {1, &el[0]};
        n->cred_ntlm =
            acquire(host != GSS_C_NO_NAME ? host : name, &wsm__oid_ntlm, &s1, "acquire-ntlm");
    }
    if (n->want_krb5) {
        gss_key_value_element_desc kt = {CS_KRB5_KEYTAB, n->keytab};
        gss_key_value_set_desc s2 = {n->keytab ? 1 : 0, &kt};
        if (n->keytab)
            el[store.count++] = kt;
        /* Without a configured name, any key of the keytab will do. */
        n->cred_krb5 = acquire(n->service_given ? name : GSS_C_NO_NAME, &wsm__oid_krb5, &s2,
                               "acquire-kerberos");
    }
    if (n->cred_ntlm != GSS_C_NO_CREDENTIAL || n->cred_krb5 != GSS_C_NO_CREDENTIAL) {
        /* SPNEGO offers exactly what is available on its own. Its one name
         * serves both mechanisms: the host alone when NTLM is all there
         * is (as above), the service when Kerberos needs it. */
        gss_OID_desc inner[2];
        gss_OID_set_desc neg = {0, inner};
        if (n->cred_ntlm != GSS_C_NO_CREDENTIAL)
            inner[neg.count++] = wsm__oid_ntlm;
        if (n->cred_krb5 != GSS_C_NO_CREDENTIAL)
            inner[neg.count++] = wsm__oid_krb5;
        gss_name_t sn =
            n->cred_ntlm != GSS_C_NO_CREDENTIAL || n->service_given ? name : GSS_C_NO_NAME;
        if (n->cred_krb5 == GSS_C_NO_CREDENTIAL && host != GSS_C_NO_NAME)
            sn = host;
        n->cred_spnego = acquire(sn, &wsm__oid_spnego, &store, "acquire-spnego");
        if (n->cred_spnego != GSS_C_NO_CREDENTIAL) {
            maj = wsm__gss.set_neg_mechs(&min, n->cred_spnego, &neg);
            if (GSS_ERROR(maj)) {
                wsmd__nego_log_gss("set-neg-mechs", maj, min);
                wsm__gss.release_cred(&min, &n->cred_spnego);
            }
        }
    }
    if (host != GSS_C_NO_NAME)
        wsm__gss.release_name(&min, &host);
    wsm__gss.release_name(&min, &name);
out:;
    int ok = n->cred_ntlm != GSS_C_NO_CREDENTIAL || n->cred_krb5 != GSS_C_NO_CREDENTIAL;
    pthread_mutex_unlock(&n->lock);
    return ok;
}

void wsmd__nego_free(struct wsmd_nego *n)
{
    OM_uint32 min;
    if (!n)
        return;
    if (wsm__gss_loaded()) {
        wsm__gss.release_cred(&min, &n->cred_ntlm);
        wsm__gss.release_cred(&min, &n->cred_krb5);
        wsm__gss.release_cred(&min, &n->cred_spnego);
    }
    pthread_mutex_destroy(&n->lock);
    free(n->users_path);
    free(n->realm);
    free(n->service);
    free(n->keytab);
    free(n->cbt);
    free(n);
}

int wsmd__nego_has_ntlm(const struct wsmd_nego *n)
{
    return n && n->want_ntlm;
}

int wsmd__nego_has_kerberos(const struct wsmd_nego *n)
{
    return n && n->want_krb5;
}

int wsmd__nego_load(struct wsmd_nego *n)
{
    return n && wsmd__nego_acquire_all(n);
}

/* ---- channel binding (RFC 5929 tls-server-end-point) ------------------- */

enum wsm_err wsmd__tls_end_point(const char *pem, unsigned char **out, size_t *len)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)strlen(pem)}, der = {NULL, 0};
    enum wsm_err e = WSM_ERR_INVALID_ARG;
    *out = NULL;
    *len = 0;
    if (gnutls_x509_crt_init(&crt) < 0)
        return WSM_ERR_NOMEM;
    /* The first certificate of the file is the server's (a chain follows). */
    if (gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) < 0)
        goto out;
    int sign = gnutls_x509_crt_get_signature_algorithm(crt);
    gnutls_digest_algorithm_t dig =
        sign < 0 ? GNUTLS_DIG_UNKNOWN
                 : gnutls_sign_get_hash_algorithm((gnutls_sign_algorithm_t)sign);
    if (dig == GNUTLS_DIG_MD5 || dig == GNUTLS_DIG_SHA1)
        dig = GNUTLS_DIG_SHA256;
    size_t hl = dig == GNUTLS_DIG_UNKNOWN ? 0 : gnutls_hash_get_len(dig);
    if (hl == 0 || hl > 64) {
        e = WSM_ERR_UNSUPPORTED_FEATURE; /* e.g. Ed25519: no binding defined */
        goto out;
    }
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) < 0)
        goto out;
    size_t pl = sizeof(TLS_END_POINT_PREFIX) - 1;
    unsigned char *b = malloc(pl + hl);
    if (!b) {
        e = WSM_ERR_NOMEM;
        goto out;
    }
    memcpy(b, TLS_END_POINT_PREFIX, pl);
    if (gnutls_hash_fast(dig, der.data, der.size, b + pl) < 0) {
        free(b);
        goto out;
    }
    *out = b;
    *len = pl + hl;
    e = WSM_OK;
out:
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    return e;
}

enum wsm_err wsmd__nego_set_tls_cert(struct wsmd_nego *n, const char *pem)
{
    unsigned char *b;
    size_t l;
    enum wsm_err e = wsmd__tls_end_point(pem, &b, &l);
    if (e)
        return e;
    free(n->cbt);
    n->cbt = b;
    n->cbt_len = l;
    return WSM_OK;
}

/* Whether an NTLM authenticate message carries channel bindings: 1 for a
 * non-zero MsvAvChannelBindings in its NTLMv2 response, 0 for none (or
 * zeros, what clients without bindings send), -1 if t is not an
 * authenticate message. A malformed message counts as none: gss-ntlmssp
 * refuses it anyway. */
static int ntlm_auth_bindings(const unsigned char *t, size_t n)
{
    if (n < 28 || memcmp(t, "NTLMSSP\0", 8) != 0 || t[8] != 3 || t[9] || t[10] || t[11])
        return -1;
    size_t nl = (size_t)t[20] | (size_t)t[21] << 8;
    size_t off = (size_t)t[24] | (size_t)t[25] << 8 | (size_t)t[26] << 16 | (size_t)t[27] << 24;
    /* NTLMv2: NTProofStr (16), then 28 bytes before the AV pairs. */
    if (nl <= 24 || off > n || nl > n - off || nl < 44)
        return 0;
    const unsigned char *p = t + off + 44, *end = t + off + nl;
    while (end - p >= 4) {
        unsigned id = (unsigned)p[0] | (unsigned)p[1] << 8;
        size_t len = (size_t)p[2] | (size_t)p[3] << 8;
        p += 4;
        if (id == NTLM_AV_EOL || len > (size_t)(end - p))
            return 0;
        if (id == NTLM_AV_CHANNEL_BINDINGS) {
            for (size_t i = 0; i < len; i++)
                if (p[i])
                    return len == 16;
            return 0;
        }
        p += len;
    }
    return 0;
}

/* Channel bindings of one token: -1 when the token is no NTLM
 * authenticate message (Kerberos checks bindings only when the client
 * sent some, by itself), else ntlm_auth_bindings. */
int wsmd__nego_token_bindings(const unsigned char *t, size_t n, enum wsmd_nego_token kind)
{
    const unsigned char *inner;
    size_t il;
    if (kind == WSMD_TOKEN_NTLM_OTHER)
        return ntlm_auth_bindings(t, n);
    if (kind == WSMD_TOKEN_SPNEGO_CONTINUE && wsm__spnego_resp_token(t, n, &inner, &il))
        return ntlm_auth_bindings(inner, il);
    return -1;
}

/* The user name of an NTLM authenticate message, for throttling a name
 * before gss sees the guess: ASCII, lower-cased, without the domain; a
 * character beyond ASCII is '?'. 0 if t is no authenticate message or
 * names nobody. */
static int ntlm_auth_user(const unsigned char *t, size_t n, char *out, size_t osz)
{
    if (n < 64 || memcmp(t, "NTLMSSP\0", 8) != 0 || t[8] != 3 || t[9] || t[10] || t[11])
        return 0;
    size_t ul = (size_t)t[36] | (size_t)t[37] << 8;
    size_t off = (size_t)t[40] | (size_t)t[41] << 8 | (size_t)t[42] << 16 | (size_t)t[43] << 24;
    int unicode = t[60] & 1; /* NTLMSSP_NEGOTIATE_UNICODE */
    if (ul == 0 || off > n || ul > n - off || (unicode && ul % 2))
        return 0;
    size_t o = 0, step = unicode ? 2 : 1;
    for (size_t i = 0; i < ul && o + 1 < osz; i += step) {
        unsigned c = t[off + i] | (unicode ? (unsigned)t[off + i + 1] << 8 : 0u);
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[o] = '\0';
    return o > 0;
}

int wsmd__nego_ntlm_user(const char *authz, char *out, size_t osz)
{
    char scheme[16];
    unsigned char *tok = NULL;
    size_t n = 0;
    if (!osz || wsmd__nego_parse_header(authz, scheme, sizeof(scheme), &tok, &n) != WSM_OK)
        return 0;
    const unsigned char *inner = tok;
    size_t il = n;
    enum wsmd_nego_token kind = wsmd__nego_token_kind(tok, n);
    int ok = 0;
    if (kind == WSMD_TOKEN_NTLM_OTHER ||
        (kind == WSMD_TOKEN_SPNEGO_CONTINUE && wsm__spnego_resp_token(tok, n, &inner, &il)))
        ok = ntlm_auth_user(inner, il, out, osz);
    free(tok);
    return ok;
}
