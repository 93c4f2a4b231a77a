/* HTTP Negotiate over GSSAPI (MIT krb5 + gss-ntlmssp) and WinRM message
 * encryption. See negotiate.h and docs/internals/negotiate.md. */
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

/* Largest decoded token: Kerberos tickets with a big PAC reach tens of KB
 * (Windows' MaxTokenSize is 48000). */
#define MAX_TOKEN 65536
/* Legs of one handshake (NTLM: 2, SPNEGO+NTLM: 2, Kerberos: 1). */
#define MAX_LEGS 6
/* The shortest NTLM negotiate message gss-ntlmssp 1.2 accepts: with the
 * 8-byte version field. */
#define NTLM_NEGOTIATE_MIN 40
/* NTLM negotiate flags ([MS-NLMP] 2.2.2.5). */
#define NTLM_FL_SIGN 0x00000010u
#define NTLM_FL_SEAL 0x00000020u
#define NTLM_FL_ALWAYS_SIGN 0x00008000u
#define NTLM_FL_VERSION 0x02000000u
/* AV pair ids ([MS-NLMP] 2.2.2.1). */
#define NTLM_AV_EOL 0x0000
#define NTLM_AV_CHANNEL_BINDINGS 0x000a
/* RFC 5929 4.1 */
#define TLS_END_POINT_PREFIX "tls-server-end-point:"
/* gss-ntlmssp reads its key file with fgets into 1024 bytes. */
#define NTLM_LINE_MAX 1023

/* gss-ntlmssp's header gssapi/gssapi_ntlmssp.h defines these (and the
 * NTLM OID, in gssload.c); they are spelled out so that only gss-ntlmssp
 * the package, not its -dev, is needed to build. */
#define CS_NTLM_KEYFILE "ntlmssp_keyfile"
#define CS_KRB5_KEYTAB "keytab"

#if defined(__SANITIZE_ADDRESS__)
#define WSMD_LSAN_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSMD_LSAN_HOOK 1
#endif
#endif
#ifdef WSMD_LSAN_HOOK
/* gss-ntlmssp and MIT krb5 leak small objects of their own (OpenSSL
 * digests fetched for each NT hash, a principal when a keytab is missing):
 * not ours to fix. LeakSanitizer reads this hook at startup. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:gssntlmssp.so\nleak:libgssapi_krb5.so\nleak:libkrb5.so\nleak:libk5crypto.so\n"
           "leak:libcrypto.so\n";
}
#endif

struct wsmd_nego {
    char *users_path;
    char *realm;
    char *service;
    char *keytab;
    int service_given;
    int allow_unmapped;       /* Kerberos names without a local account pass (collector) */
    int want_ntlm, want_krb5; /* asked for, and the system seems to have it */
    int cbt_level;            /* enum wsmd_cbt */
    unsigned char *cbt;       /* channel binding application data (TLS), or NULL */
    size_t cbt_len;

    pthread_mutex_t lock; /* guards the acquisition below, done once */
    int acquired;
    gss_cred_id_t cred_ntlm;   /* raw NTLMSSP tokens */
    gss_cred_id_t cred_krb5;   /* raw Kerberos tokens */
    gss_cred_id_t cred_spnego; /* SPNEGO: NTLM and/or Kerberos inside */

    /* Privilege separation: the handshake is the monitor's (see
     * wsmd__nego_set_remote); this process only imports its result. */
    wsmd_nego_remote_step_fn remote_step;
    void (*remote_free)(uint64_t conn);
    uint64_t next_id;
};

enum conn_state { ST_NONE, ST_PROGRESS, ST_DONE };
enum conn_kind { K_NTLM, K_SPNEGO, K_KRB5 };

struct wsmd_nego_conn {
    struct wsmd_nego *n;
    uint64_t id; /* the monitor's name for this handshake (remote only) */
    gss_ctx_id_t ctx;
    enum conn_state state;
    enum conn_kind kind;
    int legs;
    int mech_ntlm; /* the established mechanism is NTLM (signature first, 16 bytes) */
    int can_seal;
    int tls;      /* a TLS connection: bindings as cbt_level says */
    int cb_bound; /* this handshake's NTLM authenticate carried channel bindings */
    char scheme[16];
    enum wsm_mpenc_proto proto;
    char user[WSMD_MAX_USER]; /* empty: a principal with no local account */
    /* The authenticated name as GSSAPI displays it (WS1$@EXAMPLE.COM,
     * EXAMPLE\\user): the event collector's identity of a source. */
    char principal[WSMD_MAX_PRINCIPAL];
    /* NTLM sealed by ntlmseal.c rather than gss_wrap (see fast_setup). */
    int gss_only;             /* tests: never */
    int have_chal, have_auth; /* the flags of this handshake's messages */
    uint32_t chal_flags, auth_flags;
    struct wsm_ntlm_seal *fast; /* NULL: gss_wrap/gss_unwrap */
};

/* ---- logging ---------------------------------------------------------- */

static void status_text(OM_uint32 code, int type, char *out, size_t n)
{
    OM_uint32 min, more = 0;
    size_t o = 0;
    out[0] = '\0';
    do {
        gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
        if (GSS_ERROR(wsm__gss.display_status(&min, code, type, GSS_C_NO_OID, &more, &b)))
            break;
        for (size_t i = 0; i < b.length && o + 2 < n; i++) {
            char ch = ((const char *)b.value)[i];
            out[o++] = (ch < 0x20 || ch == '"' || ch == 0x7f) ? '_' : ch;
        }
        if (more && o + 2 < n)
            out[o++] = ';';
        out[o] = '\0';
        wsm__gss.release_buffer(&min, &b);
    } while (more);
}

static void log_gss(const char *what, OM_uint32 maj, OM_uint32 min)
{
    char a[200], b[200];
    status_text(maj, GSS_C_GSS_CODE, a, sizeof(a));
    status_text(min, GSS_C_MECH_CODE, b, sizeof(b));
    const char *hint = wsmd__krb5_hint(min);
    wsmd__log("event=negotiate-error step=%s major=\"%s\" minor=\"%s\"%s%s%s", what, a, b,
              hint ? " hint=\"" : "", hint ? hint : "", hint ? "\"" : "");
}

/* ---- tokens and headers ------------------------------------------------ */

static int der_len(const unsigned char *t, size_t n, size_t *pos, size_t *len)
{
    if (*pos >= n)
        return 0;
    unsigned char b = t[(*pos)++];
    if (b < 0x80) {
        *len = b;
        return 1;
    }
    unsigned k = b & 0x7fu;
    if (k == 0 || k > 4)
        return 0;
    size_t v = 0;
    for (unsigned i = 0; i < k; i++) {
        if (*pos >= n)
            return 0;
        v = v << 8 | t[(*pos)++];
    }
    *len = v;
    return 1;
}

enum wsmd_nego_token wsmd__nego_token_kind(const unsigned char *t, size_t n)
{
    size_t pos = 0, len;
    if (!t || n < 2)
        return WSMD_TOKEN_BAD;
    if (n >= 12 && memcmp(t, "NTLMSSP\0", 8) == 0) {
        uint32_t type =
            (uint32_t)t[8] | (uint32_t)t[9] << 8 | (uint32_t)t[10] << 16 | (uint32_t)t[11] << 24;
        return type == 1 ? WSMD_TOKEN_NTLM_NEGOTIATE : WSMD_TOKEN_NTLM_OTHER;
    }
    if (t[0] == 0x60) { /* [APPLICATION 0] IMPLICIT: thisMech, innerToken */
        pos = 1;
        if (!der_len(t, n, &pos, &len) || len != n - pos)
            return WSMD_TOKEN_BAD;
        if (pos + 2 > n || t[pos] != 0x06)
            return WSMD_TOKEN_BAD;
        size_t olen = t[pos + 1];
        pos += 2;
        if (olen > n - pos)
            return WSMD_TOKEN_BAD;
        if (olen == wsm__oid_spnego.length && memcmp(t + pos, wsm__oid_spnego.elements, olen) == 0)
            return WSMD_TOKEN_SPNEGO_INIT;
        if (olen == wsm__oid_krb5.length && memcmp(t + pos, wsm__oid_krb5.elements, olen) == 0)
            return WSMD_TOKEN_KRB5;
        return WSMD_TOKEN_BAD;
    }
    if (t[0] == 0xa1) { /* NegotiationToken: negTokenResp [1] */
        pos = 1;
        if (!der_len(t, n, &pos, &len) || len != n - pos || len == 0)
            return WSMD_TOKEN_BAD;
        return WSMD_TOKEN_SPNEGO_CONTINUE;
    }
    return WSMD_TOKEN_BAD;
}

static const char *const schemes[] = {"Negotiate", "NTLM", "Kerberos"};

static const char *scheme_of(const char *h, size_t *skip)
{
    if (!h)
        return NULL;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t l = strlen(schemes[i]);
        if (strncasecmp(h, schemes[i], l) == 0 && (h[l] == ' ' || h[l] == '\t' || !h[l])) {
            *skip = l;
            return schemes[i];
        }
    }
    return NULL;
}

int wsmd__nego_is_scheme(const char *authz)
{
    size_t skip;
    return scheme_of(authz, &skip) != NULL;
}

enum wsm_err wsmd__nego_parse_header(const char *authz, char *scheme, size_t ssz,
                                     unsigned char **tok, size_t *toklen)
{
    size_t skip;
    const char *s = scheme_of(authz, &skip);
    if (!s || strlen(s) >= ssz)
        return WSM_ERR_AUTH;
    const char *p = authz + skip;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0 || len > wsm__base64_enclen(MAX_TOKEN))
        return WSM_ERR_AUTH;
    unsigned char *t = malloc(len / 4 * 3 + 3);
    if (!t)
        return WSM_ERR_NOMEM;
    size_t n;
    if (wsm__base64_decode(p, len, t, len / 4 * 3 + 3, &n) != WSM_OK || n == 0) {
        free(t);
        return WSM_ERR_AUTH;
    }
    strcpy(scheme, s);
    *tok = t;
    *toklen = n;
    return WSM_OK;
}

static char *make_www(const char *scheme, const gss_buffer_desc *b)
{
    size_t sl = strlen(scheme);
    size_t n = sl + 1 + (b ? wsm__base64_enclen(b->length) : 0) + 1;
    char *w = malloc(n);
    if (!w)
        return NULL;
    memcpy(w, scheme, sl);
    if (b && b->length) {
        w[sl] = ' ';
        wsm__base64_encode(b->value, b->length, w + sl + 1);
    } else {
        w[sl] = '\0';
    }
    return w;
}

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
        log_gss(what, maj, min);
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
static int acquire_all(struct wsmd_nego *n)
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
        log_gss("import-service-name", maj, min);
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
                log_gss("set-neg-mechs", maj, min);
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
    return n && acquire_all(n);
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
static int token_bindings(const unsigned char *t, size_t n, enum wsmd_nego_token kind)
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

/* ---- connections ------------------------------------------------------- */

struct wsmd_nego_conn *wsmd__nego_conn_new(struct wsmd_nego *n)
{
    struct wsmd_nego_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->n = n;
    c->ctx = GSS_C_NO_CONTEXT;
    c->id = __atomic_add_fetch(&n->next_id, 1, __ATOMIC_RELAXED);
    return c;
}

void wsmd__nego_conn_set_tls(struct wsmd_nego_conn *c)
{
    if (c)
        c->tls = 1;
}

void wsmd__nego_reset(struct wsmd_nego_conn *c)
{
    OM_uint32 min;
    if (c->n->remote_free && c->state == ST_PROGRESS)
        c->n->remote_free(c->id); /* the monitor's half of the handshake */
    if (c->ctx != GSS_C_NO_CONTEXT && wsm__gss_loaded())
        wsm__gss.delete_sec_context(&min, &c->ctx, GSS_C_NO_BUFFER);
    c->ctx = GSS_C_NO_CONTEXT;
    c->state = ST_NONE;
    c->legs = 0;
    c->mech_ntlm = 0;
    c->can_seal = 0;
    c->cb_bound = 0;
    c->user[0] = '\0';
    c->principal[0] = '\0';
    c->have_chal = c->have_auth = 0;
    if (c->fast) {
        wsm__ntlm_seal_clear(c->fast);
        free(c->fast);
        c->fast = NULL;
    }
}

void wsmd__nego_conn_free(struct wsmd_nego_conn *c)
{
    if (!c)
        return;
    wsmd__nego_reset(c);
    free(c);
}

const char *wsmd__nego_user(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->user[0] ? c->user : NULL;
}

const char *wsmd__nego_principal(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->principal[0] ? c->principal : NULL;
}

const char *wsmd__nego_mech(const struct wsmd_nego_conn *c)
{
    if (!c || c->state != ST_DONE)
        return NULL;
    return c->mech_ntlm ? "NTLM" : "Kerberos";
}

int wsmd__nego_can_seal(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->can_seal;
}

int wsmd__nego_ntlm_fast(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->fast != NULL;
}

void wsmd__nego_conn_gss_only(struct wsmd_nego_conn *c)
{
    if (c)
        c->gss_only = 1;
}

/* ---- names ------------------------------------------------------------- */

static int ascii_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

static int ascii_caseeq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* Maps the NTLM name gss-ntlmssp authenticated ("DOMAIN\user" or "user")
 * to the user file entry whose NT hash it used. gss-ntlmssp takes the
 * first line whose user (and domain, when both have one) match without
 * regard to case (Unicode folding); this mapping does the same in ASCII and
 * refuses whenever the two could disagree: a non-ASCII name, two entries
 * that match, a line gss-ntlmssp would read differently before the match. */
static enum wsm_err map_ntlm(struct wsmd_nego_conn *c, const char *dn, size_t dl)
{
    const char *bs = memchr(dn, '\\', dl);
    const char *cdom = bs ? dn : NULL, *cuser = bs ? bs + 1 : dn;
    size_t cdl = bs ? (size_t)(bs - dn) : 0, cul = dl - (size_t)(cuser - dn);
    if (cul == 0 || !ascii_only(dn, dl) || memchr(dn, '\0', dl))
        return WSM_ERR_AUTH;
    if (cdom && cdl == 0)
        cdom = NULL;

    /* As auth.c reads it: a malformed line (logged there, at its reload)
     * is skipped rather than refusing everyone; a file others may write is
     * not trusted. */
    struct wsmd_userfile uf;
    enum wsm_err e =
        wsmd__userfile_read(c->n->users_path, WSMD_UF_SKIP_BAD | WSMD_UF_MODE, &uf, NULL, 0);
    if (e)
        return e == WSM_ERR_NOMEM ? e : WSM_ERR_AUTH;
    const struct wsmd_user *cand = NULL;
    int matches = 0, poisoned = 0;
    for (size_t i = 0; i < uf.n; i++) {
        const struct wsmd_user *u = &uf.users[i];
        size_t linelen =
            strlen(u->name) + 1 + strlen(u->hash) + (u->rest ? 1 + strlen(u->rest) : 0);
        if (!u->rest) /* "name:hash": gss-ntlmssp skips it */
            continue;
        if (!strchr(u->rest, ':')) {
            /* "a:b:c": Heimdal's DOMAIN:USER:PASSWORD to gss-ntlmssp. */
            if (!cand && ascii_caseeq(u->hash, strlen(u->hash), cuser, cul))
                poisoned = 1;
            continue;
        }
        if (!cand && (linelen >= NTLM_LINE_MAX || !ascii_only(u->name, strlen(u->name))))
            poisoned = 1;
        if (!wsmd__userfile_has_nthash(u))
            continue;
        const char *en = u->name, *ebs = strchr(en, '\\');
        const char *edom = ebs ? en : NULL, *euser = ebs ? ebs + 1 : en;
        size_t edl = ebs ? (size_t)(ebs - en) : 0;
        if (!ascii_caseeq(euser, strlen(euser), cuser, cul))
            continue;
        if (edom && cdom && !ascii_caseeq(edom, edl, cdom, cdl))
            continue;
        matches++;
        if (!cand)
            cand = u;
    }
    e = WSM_ERR_AUTH;
    if (cand && matches == 1 && !poisoned && strlen(cand->name) < sizeof(c->user)) {
        strcpy(c->user, cand->name);
        e = WSM_OK;
    } else if (cand) {
        wsmd__log("event=negotiate-error step=map-user message=\"NTLM name matches the user "
                  "file ambiguously\"");
    }
    wsmd__userfile_clear(&uf);
    return e;
}

static enum wsm_err map_krb5(struct wsmd_nego_conn *c, gss_name_t src, const char *dn, size_t dl)
{
    char name[WSMD_MAX_USER];
    if (c->n->realm) {
        size_t rl = strlen(c->n->realm);
        if (dl < rl + 2 || dn[dl - rl - 1] != '@' || memcmp(dn + dl - rl, c->n->realm, rl) != 0)
            return WSM_ERR_AUTH;
        size_t ul = dl - rl - 1;
        if (ul >= sizeof(name) || memchr(dn, '/', ul) || memchr(dn, '@', ul) ||
            memchr(dn, '\\', ul))
            return WSM_ERR_AUTH;
        memcpy(name, dn, ul);
        name[ul] = '\0';
    } else {
        OM_uint32 maj, min;
        gss_buffer_desc ln = GSS_C_EMPTY_BUFFER;
        maj = wsm__gss.localname(&min, src, &wsm__oid_krb5, &ln);
        if (GSS_ERROR(maj)) {
            log_gss("localname", maj, min);
            return WSM_ERR_AUTH;
        }
        int ok = ln.length > 0 && ln.length < sizeof(name);
        if (ok) {
            memcpy(name, ln.value, ln.length);
            name[ln.length] = '\0';
            ok = strlen(name) == ln.length;
        }
        wsm__gss.release_buffer(&min, &ln);
        if (!ok)
            return WSM_ERR_AUTH;
    }
    if (!wsmd__username_ok(name))
        return WSM_ERR_AUTH;
    if (!c->n->users_path) {
        /* No user file (root with PAM): the name must be a local account. */
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res) {
            wsmd__log("event=negotiate-error step=map-user message=\"no local account for the "
                      "Kerberos name\"");
            return WSM_ERR_AUTH;
        }
    } else {
        struct wsmd_userfile uf;
        enum wsm_err e =
            wsmd__userfile_read(c->n->users_path, WSMD_UF_SKIP_BAD | WSMD_UF_MODE, &uf, NULL, 0);
        if (e)
            return e == WSM_ERR_NOMEM ? e : WSM_ERR_AUTH;
        int found = wsmd__userfile_find(&uf, name) != NULL;
        wsmd__userfile_clear(&uf);
        if (!found)
            return WSM_ERR_AUTH;
    }
    strcpy(c->user, name);
    return WSM_OK;
}

/* ---- the handshake ----------------------------------------------------- */

/* NTLM sealing without GSSAPI: gss-ntlmssp's gss_wrap and gss_unwrap make
 * OpenSSL key objects for every message, which costs tens of microseconds
 * each; ntlmseal.c does the same RC4 and HMAC-MD5 with nettle from the
 * exported session key (GSS_C_INQ_SSPI_SESSION_KEY) and the negotiated
 * flags. gss-ntlmssp's acceptor derives its keys from the flags of its
 * CHALLENGE message; the AUTHENTICATE message must agree on every flag
 * that matters, or the sealing stays with GSSAPI (as it does for anything
 * ntlmseal.c does not implement: no extended session security, DATAGRAM).
 * Raw NTLM only: under SPNEGO the mechListMIC exchange has already used
 * sequence numbers and RC4 state (gss_get_mic/gss_verify_mic inside MIT's
 * SPNEGO), which this module could only guess. */
static void ntlm_fast_setup(struct wsmd_nego_conn *c)
{
    OM_uint32 maj, min;
    const char *why = NULL;
    if (!wsm__gss.inquire_sec_context_by_oid)
        why = "no gss_inquire_sec_context_by_oid";
    else if (!c->have_chal || !c->have_auth)
        why = "NTLM messages not seen";
    else if ((c->chal_flags ^ c->auth_flags) & WSM_NTLM_CRYPTO_FLAGS)
        why = "CHALLENGE and AUTHENTICATE flags differ";
    else if (!wsm__ntlm_flags_ok(c->chal_flags))
        why = "no extended session security, or datagram";
    if (why)
        goto out;
    gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
    maj = wsm__gss.inquire_sec_context_by_oid(&min, c->ctx, &wsm__oid_inq_session_key, &set);
    if (GSS_ERROR(maj) || !set || set->count < 1 || set->elements[0].length != WSM_NTLM_KEY_LEN) {
        why = "no session key";
    } else if (!(c->fast = malloc(sizeof(*c->fast)))) {
        why = "out of memory";
    } else {
        wsm__ntlm_seal_init(c->fast, set->elements[0].value, c->chal_flags, 0);
    }
    if (set) {
        for (size_t i = 0; i < set->count; i++)
            explicit_bzero(set->elements[i].value, set->elements[i].length);
        wsm__gss.release_buffer_set(&min, &set);
    }
out:
    if (why)
        wsmd__log("event=negotiate-notice message=\"NTLM sealing through GSSAPI: %s\" "
                  "flags=0x%08x/0x%08x",
                  why, (unsigned)c->chal_flags, (unsigned)c->auth_flags);
}

/* A name fit for logs and globs: printable ASCII, no quote or backslash
 * but the one of DOMAIN\\user. */
static int principal_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '"')
            return 0;
    return n > 0;
}

static enum wsm_err finish(struct wsmd_nego_conn *c, gss_name_t src, gss_OID mech, OM_uint32 flags)
{
    OM_uint32 maj, min;
    gss_buffer_desc dn = GSS_C_EMPTY_BUFFER;
    maj = wsm__gss.display_name(&min, src, &dn, NULL);
    if (GSS_ERROR(maj)) {
        log_gss("display-name", maj, min);
        return WSM_ERR_AUTH;
    }
    enum wsm_err e;
    size_t dl = dn.length;
    /* gss-ntlmssp counts the terminating NUL. */
    while (dl && ((const char *)dn.value)[dl - 1] == '\0')
        dl--;
    c->mech_ntlm = mech && wsm__gss_oid_eq(mech, &wsm__oid_ntlm);
    int krb5 = mech && wsm__gss_oid_eq(mech, &wsm__oid_krb5);
    c->principal[0] = '\0';
    if (dl < sizeof(c->principal) && !memchr(dn.value, '\0', dl) && principal_ok(dn.value, dl)) {
        memcpy(c->principal, dn.value, dl);
        c->principal[dl] = '\0';
    }
    if (c->mech_ntlm && c->n->users_path)
        e = map_ntlm(c, dn.value, dl);
    else if (krb5)
        e = map_krb5(c, src, dn.value, dl);
    else
        e = WSM_ERR_AUTH;
    if (e == WSM_ERR_AUTH && krb5 && c->n->allow_unmapped && c->principal[0]) {
        /* A machine (WS1$@EXAMPLE.COM) or any principal without a local
         * account: proven, but it holds no local right; only the event
         * collector's paths accept it (http.c). */
        c->user[0] = '\0';
        e = WSM_OK;
    }
    if (e == WSM_OK && !c->principal[0])
        snprintf(c->principal, sizeof(c->principal), "%s", c->user);
    wsm__gss.release_buffer(&min, &dn);
    c->can_seal = (flags & GSS_C_CONF_FLAG) && (flags & GSS_C_INTEG_FLAG);
    return e;
}

/* ---- privilege separation: the handshake in the monitor ---------------- */

#define EXPORT_MAGIC 0x77736e31u /* "wsn1" */

/* What the network process needs of an established context besides the
 * GSSAPI export token. */
struct export_hdr {
    uint32_t magic;
    uint32_t kind, mech_ntlm, can_seal, cb_bound, gss_only;
    uint32_t have_chal, have_auth, chal_flags, auth_flags;
    char scheme[16];
    char user[WSMD_MAX_USER];
    char principal[WSMD_MAX_PRINCIPAL];
    uint32_t toklen;
};

void wsmd__nego_set_remote(struct wsmd_nego *n, wsmd_nego_remote_step_fn step,
                           void (*free_fn)(uint64_t conn))
{
    n->remote_step = step;
    n->remote_free = free_fn;
}

enum wsm_err wsmd__nego_export(struct wsmd_nego_conn *c, unsigned char **out, size_t *len)
{
    OM_uint32 maj, min;
    if (c->state != ST_DONE || c->ctx == GSS_C_NO_CONTEXT)
        return WSM_ERR_INVALID_ARG;
    gss_buffer_desc tok = GSS_C_EMPTY_BUFFER;
    maj = wsm__gss.export_sec_context(&min, &c->ctx, &tok);
    if (GSS_ERROR(maj)) {
        log_gss("export", maj, min);
        return WSM_ERR_INTERNAL;
    }
    c->ctx = GSS_C_NO_CONTEXT; /* the export deleted it */
    struct export_hdr h;
    memset(&h, 0, sizeof(h));
    h.magic = EXPORT_MAGIC;
    h.kind = (uint32_t)c->kind;
    h.mech_ntlm = (uint32_t)c->mech_ntlm;
    h.can_seal = (uint32_t)c->can_seal;
    h.cb_bound = (uint32_t)c->cb_bound;
    h.gss_only = (uint32_t)c->gss_only;
    h.have_chal = (uint32_t)c->have_chal;
    h.have_auth = (uint32_t)c->have_auth;
    h.chal_flags = c->chal_flags;
    h.auth_flags = c->auth_flags;
    snprintf(h.scheme, sizeof(h.scheme), "%s", c->scheme);
    snprintf(h.user, sizeof(h.user), "%s", c->user);
    snprintf(h.principal, sizeof(h.principal), "%s", c->principal);
    h.toklen = (uint32_t)tok.length;
    unsigned char *p = malloc(sizeof(h) + tok.length);
    if (!p) {
        wsm__gss.release_buffer(&min, &tok);
        return WSM_ERR_NOMEM;
    }
    memcpy(p, &h, sizeof(h));
    memcpy(p + sizeof(h), tok.value, tok.length);
    explicit_bzero(tok.value, tok.length); /* it holds the session keys */
    wsm__gss.release_buffer(&min, &tok);
    *out = p;
    *len = sizeof(h) + h.toklen;
    return WSM_OK;
}

const char *wsmd__nego_user_of_export(const unsigned char *p, size_t len)
{
    static const char none[] = "";
    if (len < sizeof(struct export_hdr))
        return none;
    const struct export_hdr *h = (const void *)p;
    return memchr(h->user, '\0', sizeof(h->user)) ? h->user : none;
}

enum wsm_err wsmd__nego_import(struct wsmd_nego_conn *c, const unsigned char *p, size_t len)
{
    OM_uint32 maj, min;
    struct export_hdr h;
    if (len < sizeof(h))
        return WSM_ERR_AUTH;
    memcpy(&h, p, sizeof(h));
    if (h.magic != EXPORT_MAGIC || h.toklen != len - sizeof(h) || h.kind > K_KRB5 ||
        !memchr(h.user, '\0', sizeof(h.user)) || !memchr(h.scheme, '\0', sizeof(h.scheme)) ||
        !memchr(h.principal, '\0', sizeof(h.principal)) ||
        (!h.user[0] && !(c->n->allow_unmapped && h.principal[0])))
        return WSM_ERR_AUTH;
    if (!wsm__gss_load())
        return WSM_ERR_INTERNAL;
    wsmd__nego_reset(c);
    gss_buffer_desc tok = {h.toklen, (void *)(p + sizeof(h))};
    maj = wsm__gss.import_sec_context(&min, &tok, &c->ctx);
    if (GSS_ERROR(maj)) {
        log_gss("import", maj, min);
        c->ctx = GSS_C_NO_CONTEXT;
        return WSM_ERR_AUTH;
    }
    c->kind = (enum conn_kind)h.kind;
    c->mech_ntlm = h.mech_ntlm != 0;
    c->can_seal = h.can_seal != 0;
    c->cb_bound = h.cb_bound != 0;
    c->gss_only = c->gss_only || h.gss_only;
    c->have_chal = h.have_chal != 0;
    c->have_auth = h.have_auth != 0;
    c->chal_flags = h.chal_flags;
    c->auth_flags = h.auth_flags;
    snprintf(c->scheme, sizeof(c->scheme), "%s", h.scheme);
    snprintf(c->user, sizeof(c->user), "%s", h.user);
    snprintf(c->principal, sizeof(c->principal), "%s", h.principal);
    c->state = ST_DONE;
    if (c->mech_ntlm && c->can_seal && c->kind == K_NTLM && !c->gss_only)
        ntlm_fast_setup(c);
    return WSM_OK;
}

/* One leg in a separated daemon: checked here (the header and the token's
 * kind: the parsers with fuzz targets), run by the monitor, and the
 * finished context imported. */
static enum wsm_err remote_step(struct wsmd_nego_conn *c, const char *authz, char **www, int *done)
{
    char scheme[16];
    unsigned char *tok = NULL;
    size_t toklen = 0;
    enum wsm_err e = wsmd__nego_parse_header(authz, scheme, sizeof(scheme), &tok, &toklen);
    if (e == WSM_OK && wsmd__nego_token_kind(tok, toklen) == WSMD_TOKEN_BAD)
        e = WSM_ERR_AUTH;
    free(tok);
    if (c->state == ST_DONE)
        wsmd__nego_reset(c); /* a new handshake on this connection */
    if (e) {
        wsmd__nego_reset(c);
        return e;
    }
    unsigned char *ctx = NULL;
    size_t ctx_len = 0;
    e = c->n->remote_step(c->id, c->tls, authz, www, done, &ctx, &ctx_len);
    if (e) {
        c->state = ST_NONE; /* the monitor dropped its half */
        wsmd__nego_reset(c);
        return e;
    }
    if (!*done) {
        c->state = ST_PROGRESS;
        return WSM_OK;
    }
    c->state = ST_NONE;
    e = wsmd__nego_import(c, ctx, ctx_len);
    if (ctx) {
        explicit_bzero(ctx, ctx_len);
        free(ctx);
    }
    if (e) {
        free(*www);
        *www = NULL;
        *done = 0;
        wsmd__nego_reset(c);
        return WSM_ERR_AUTH;
    }
    return WSM_OK;
}

enum wsm_err wsmd__nego_step(struct wsmd_nego_conn *c, const char *authz, char **www, int *done)
{
    OM_uint32 maj, min, flags = 0;
    char scheme[16];
    unsigned char *tok = NULL;
    size_t toklen = 0;
    *www = NULL;
    *done = 0;
    if (c->n->remote_step)
        return remote_step(c, authz, www, done);

    enum wsm_err e = wsmd__nego_parse_header(authz, scheme, sizeof(scheme), &tok, &toklen);
    if (e) {
        wsmd__nego_reset(c);
        return e;
    }
    if (!acquire_all(c->n)) {
        free(tok);
        wsmd__nego_reset(c);
        return WSM_ERR_AUTH;
    }
    enum wsmd_nego_token kind = wsmd__nego_token_kind(tok, toklen);
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    enum conn_kind ck = K_NTLM;
    int fresh = 1;
    switch (kind) {
    case WSMD_TOKEN_NTLM_NEGOTIATE:
        cred = c->n->cred_ntlm;
        break;
    case WSMD_TOKEN_SPNEGO_INIT:
        cred = c->n->cred_spnego;
        ck = K_SPNEGO;
        break;
    case WSMD_TOKEN_KRB5:
        cred = c->n->cred_krb5;
        ck = K_KRB5;
        break;
    case WSMD_TOKEN_NTLM_OTHER:
    case WSMD_TOKEN_SPNEGO_CONTINUE:
        /* Only the connection that started the handshake may go on. */
        ck = kind == WSMD_TOKEN_NTLM_OTHER ? K_NTLM : K_SPNEGO;
        if (c->state != ST_PROGRESS || c->kind != ck || strcmp(c->scheme, scheme) != 0)
            goto refuse;
        fresh = 0;
        cred = ck == K_NTLM ? c->n->cred_ntlm : c->n->cred_spnego;
        break;
    default:
        goto refuse;
    }
    if (cred == GSS_C_NO_CREDENTIAL)
        goto refuse;
    if (kind == WSMD_TOKEN_NTLM_NEGOTIATE && toklen < NTLM_NEGOTIATE_MIN) {
        /* A negotiate message without the optional version field (curl's
         * is 32 bytes): gss-ntlmssp 1.2 wants 40. Zeros are appended, so
         * that the offsets of any payload stay right; the version field is
         * only read when the client sets NEGOTIATE_VERSION, and a client
         * that signs the message with a MIC is not helped (nor harmed: the
         * MIC then fails). */
        unsigned char *t = realloc(tok, NTLM_NEGOTIATE_MIN);
        if (!t)
            goto refuse;
        memset(t + toklen, 0, NTLM_NEGOTIATE_MIN - toklen);
        tok = t;
        toklen = NTLM_NEGOTIATE_MIN;
    }
    if (kind == WSMD_TOKEN_NTLM_NEGOTIATE) {
        /* A client that neither signs nor seals nor sends the version
         * (curl) writes its authenticate message without the version
         * field; gss-ntlmssp then insists on one (it asks for the version
         * whenever ALWAYS_SIGN is negotiated) and cannot read the message.
         * ALWAYS_SIGN means nothing without SIGN: it is dropped. */
        uint32_t fl = (uint32_t)tok[12] | (uint32_t)tok[13] << 8 | (uint32_t)tok[14] << 16 |
                      (uint32_t)tok[15] << 24;
        if (!(fl & (NTLM_FL_VERSION | NTLM_FL_SIGN | NTLM_FL_SEAL)) && (fl & NTLM_FL_ALWAYS_SIGN))
            tok[13] &= (unsigned char)~(NTLM_FL_ALWAYS_SIGN >> 8);
    }
    if (fresh) {
        wsmd__nego_reset(c);
        c->kind = ck;
        snprintf(c->scheme, sizeof(c->scheme), "%s", scheme);
        c->proto = strcmp(scheme, "Kerberos") == 0 ? WSM_MPENC_KERBEROS : WSM_MPENC_SPNEGO;
    }
    if (++c->legs > MAX_LEGS)
        goto refuse;

    /* Channel binding over TLS. wsmd reads whether an NTLM authenticate
     * message carries MsvAvChannelBindings itself: without them, the
     * bindings are not passed (gss-ntlmssp before 1.2 refused such a
     * client whenever the acceptor passed bindings; 1.2 lets it in) and
     * Strict refuses it. MIT Kerberos itself ignores bindings the client
     * did not send (all zeros); Strict then asks for
     * GSS_C_CHANNEL_BOUND_FLAG below. */
    struct gss_channel_bindings_struct cbs;
    gss_channel_bindings_t cb = GSS_C_NO_CHANNEL_BINDINGS;
    int strict = c->tls && c->n->cbt && c->n->cbt_level == WSMD_CBT_STRICT;
    if (c->tls && c->n->cbt && c->n->cbt_level != WSMD_CBT_NONE) {
        int tb = token_bindings(tok, toklen, kind);
        if (tb == 0 && strict) {
            wsmd__log("event=negotiate-error step=channel-binding message=\"NTLM without "
                      "channel bindings (CbtHardeningLevel=Strict)\"");
            goto refuse;
        }
        if (tb != 0) {
            memset(&cbs, 0, sizeof(cbs));
            cbs.application_data.length = c->n->cbt_len;
            cbs.application_data.value = c->n->cbt;
            cb = &cbs;
        }
        if (tb == 1)
            c->cb_bound = 1;
    }

    /* The AUTHENTICATE message's flags, for ntlm_fast_setup. */
    uint32_t fl3;
    if (wsm__ntlm_token_flags(tok, toklen, 3, &fl3) == 0) {
        c->auth_flags = fl3;
        c->have_auth = 1;
    }
    gss_buffer_desc in = {toklen, tok}, out = GSS_C_EMPTY_BUFFER;
    gss_name_t src = GSS_C_NO_NAME;
    gss_OID mech = GSS_C_NO_OID;
    maj = wsm__gss.accept_sec_context(&min, &c->ctx, cred, &in, cb, &src, &mech, &out, &flags, NULL,
                                      NULL);
    free(tok);
    tok = NULL;
    if (GSS_ERROR(maj)) {
        log_gss("accept", maj, min);
        wsm__gss.release_buffer(&min, &out);
        wsm__gss.release_name(&min, &src);
        wsmd__nego_reset(c);
        return WSM_ERR_AUTH;
    }
    if (maj & GSS_S_CONTINUE_NEEDED) {
        wsm__gss.release_name(&min, &src);
        if (out.length == 0) {
            wsm__gss.release_buffer(&min, &out);
            wsmd__nego_reset(c);
            return WSM_ERR_AUTH;
        }
        uint32_t fl2; /* the CHALLENGE message's flags, for ntlm_fast_setup */
        if (wsm__ntlm_token_flags(out.value, out.length, 2, &fl2) == 0) {
            c->chal_flags = fl2;
            c->have_chal = 1;
        }
        *www = make_www(c->scheme, &out);
        wsm__gss.release_buffer(&min, &out);
        if (!*www) {
            wsmd__nego_reset(c);
            return WSM_ERR_NOMEM;
        }
        c->state = ST_PROGRESS;
        return WSM_OK;
    }
    e = finish(c, src, mech, flags);
    wsm__gss.release_name(&min, &src);
    if (!e && strict && !(c->mech_ntlm ? c->cb_bound : (flags & GSS_C_CHANNEL_BOUND_FLAG) != 0)) {
        wsmd__log("event=negotiate-error step=channel-binding message=\"no channel bindings "
                  "(CbtHardeningLevel=Strict)\"");
        e = WSM_ERR_AUTH;
    }
    if (e) {
        wsm__gss.release_buffer(&min, &out);
        wsmd__nego_reset(c);
        return e;
    }
    if (out.length) {
        *www = make_www(c->scheme, &out);
        if (!*www) {
            wsm__gss.release_buffer(&min, &out);
            wsmd__nego_reset(c);
            return WSM_ERR_NOMEM;
        }
    }
    wsm__gss.release_buffer(&min, &out);
    c->state = ST_DONE;
    if (c->mech_ntlm && c->can_seal && c->kind == K_NTLM && !c->gss_only)
        ntlm_fast_setup(c);
    *done = 1;
    return WSM_OK;

refuse:
    free(tok);
    wsmd__nego_reset(c);
    return WSM_ERR_AUTH;
}

/* ---- message encryption ------------------------------------------------ */

int wsmd__nego_body_encrypted(const char *content_type)
{
    enum wsm_mpenc_proto p;
    int multi;
    return wsm__mpenc_content_type(content_type, &p, &multi) != WSM_ERR_NOT_FOUND;
}

size_t wsmd__nego_max_body(size_t max_envelope)
{
    return wsm__mpenc_max_body(max_envelope);
}

/* Unwraps one part into out (appending). */
static enum wsm_err unwrap_part(struct wsmd_nego_conn *c, const struct wsm_mpenc_part *p,
                                struct wsm_buf *out)
{
    OM_uint32 maj, min;
    int conf = 0;
    size_t tl = p->sig_len + p->sealed_len;
    if (c->mech_ntlm && p->sig_len != 16)
        return WSM_ERR_AUTH;
    if (c->fast) /* unsealed straight into out */
        return wsm__ntlm_unseal_append(c->fast, p->sig, p->sealed, p->sealed_len, p->orig_len, out);
    unsigned char *t = malloc(tl ? tl : 1);
    if (!t)
        return WSM_ERR_NOMEM;
    /* NTLM's token and Kerberos' stream are both the signature (header)
     * followed by the sealed bytes. */
    memcpy(t, p->sig, p->sig_len);
    memcpy(t + p->sig_len, p->sealed, p->sealed_len);
    enum wsm_err e = WSM_OK;
    if (c->mech_ntlm) {
        gss_buffer_desc in = {tl, t}, plain = GSS_C_EMPTY_BUFFER;
        maj = wsm__gss.unwrap(&min, c->ctx, &in, &plain, &conf, NULL);
        if (GSS_ERROR(maj)) {
            log_gss("unwrap", maj, min);
            e = WSM_ERR_AUTH;
        } else if (!conf || plain.length != p->orig_len) {
            e = WSM_ERR_AUTH;
        } else {
            e = wsm__buf_add(out, plain.value, plain.length);
        }
        if (plain.value)
            explicit_bzero(plain.value, plain.length);
        wsm__gss.release_buffer(&min, &plain);
    } else {
        gss_iov_buffer_desc iov[2] = {
            {GSS_IOV_BUFFER_TYPE_STREAM, {tl, t}},
            {GSS_IOV_BUFFER_TYPE_DATA, {0, NULL}},
        };
        maj = wsm__gss.unwrap_iov(&min, c->ctx, &conf, NULL, iov, 2);
        if (GSS_ERROR(maj)) {
            log_gss("unwrap", maj, min);
            e = WSM_ERR_AUTH;
        } else if (!conf || iov[1].buffer.length != p->orig_len) {
            e = WSM_ERR_AUTH;
        } else {
            e = wsm__buf_add(out, iov[1].buffer.value, iov[1].buffer.length);
        }
    }
    explicit_bzero(t, tl);
    free(t);
    return e;
}

enum wsm_err wsmd__nego_unwrap(struct wsmd_nego_conn *c, const char *content_type,
                               const unsigned char *body, size_t len, size_t max_plain,
                               char **plain, size_t *plain_len)
{
    enum wsm_mpenc_proto proto;
    int multi;
    enum wsm_err e = wsm__mpenc_content_type(content_type, &proto, &multi);
    if (e)
        return WSM_ERR_UNSUPPORTED_MEDIA;
    if (!c || c->state != ST_DONE || !c->can_seal)
        return WSM_ERR_AUTH;
    if (len > wsm__mpenc_max_body(max_plain))
        return WSM_ERR_ENVELOPE_TOO_LARGE;
    size_t maxparts = multi ? WSM_MPENC_MAX_PARTS : 1, np = 0;
    struct wsm_mpenc_part *parts = calloc(maxparts, sizeof(*parts));
    if (!parts)
        return WSM_ERR_NOMEM;
    e = wsm__mpenc_parse(body, len, proto, multi, max_plain, parts, maxparts, &np);
    struct wsm_buf out;
    wsm__buf_init(&out, max_plain + 1);
    for (size_t i = 0; !e && i < np; i++) {
        e = unwrap_part(c, &parts[i], &out);
        if (e == WSM_ERR_AUTH)
            wsmd__nego_reset(c); /* the sequence numbers are out of step now */
    }
    free(parts);
    if (!e && wsm__buf_add(&out, "", 1) != WSM_OK) /* the NUL */
        e = WSM_ERR_NOMEM;
    if (e) {
        if (out.data)
            explicit_bzero(out.data, out.len);
        wsm__buf_free(&out);
        return e;
    }
    c->proto = proto;
    *plain = wsm__buf_steal(&out, plain_len);
    (*plain_len)--;
    return WSM_OK;
}

enum wsm_err wsmd__nego_wrap(struct wsmd_nego_conn *c, const char *plain, size_t len, char **body,
                             size_t *body_len, const char **content_type)
{
    OM_uint32 maj, min;
    int conf = 0;
    if (!c || c->state != ST_DONE || !c->can_seal)
        return WSM_ERR_AUTH;
    if (len == 0)
        return WSM_ERR_INVALID_ARG; /* an empty body goes out as it is */
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    enum wsm_err e = wsm__buf_reserve(&out, len + 512);
    if (e)
        return e;
    if (c->fast) {
        /* The part with the plain text and a blank signature, then both
         * filled in place: the sealed bytes are the last len of out. */
        static const unsigned char blank[WSM_NTLM_SIG_LEN];
        e = wsm__mpenc_build_part(&out, c->proto, len, blank, sizeof(blank),
                                  (const unsigned char *)plain, len);
        if (!e) {
            unsigned char *sealed = (unsigned char *)out.data + out.len - len;
            wsm__ntlm_seal(c->fast, sealed, len, sealed, sealed - WSM_NTLM_SIG_LEN);
        }
    } else if (c->mech_ntlm) {
        gss_buffer_desc in = {len, (void *)plain}, w = GSS_C_EMPTY_BUFFER;
        maj = wsm__gss.wrap(&min, c->ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &w);
        if (GSS_ERROR(maj)) {
            log_gss("wrap", maj, min);
            e = WSM_ERR_INTERNAL;
        } else if (!conf || w.length != len + 16) {
            e = WSM_ERR_INTERNAL;
        } else {
            const unsigned char *wv = w.value;
            e = wsm__mpenc_build_part(&out, c->proto, len, wv, 16, wv + 16, len);
        }
        wsm__gss.release_buffer(&min, &w);
    } else {
        char *data = malloc(len ? len : 1);
        if (!data) {
            wsm__buf_free(&out);
            return WSM_ERR_NOMEM;
        }
        memcpy(data, plain, len);
        gss_iov_buffer_desc iov[3] = {
            {GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE, {0, NULL}},
            {GSS_IOV_BUFFER_TYPE_DATA, {len, data}},
            {GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE, {0, NULL}},
        };
        maj = wsm__gss.wrap_iov(&min, c->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
        if (GSS_ERROR(maj)) {
            log_gss("wrap", maj, min);
            e = WSM_ERR_INTERNAL;
        } else if (!conf) {
            e = WSM_ERR_INTERNAL;
        } else {
            /* Any padding goes with the sealed bytes (none with AES). */
            e = wsm__mpenc_build_part(&out, c->proto, len, iov[0].buffer.value,
                                      iov[0].buffer.length, (unsigned char *)data, len);
            if (!e && iov[2].buffer.length)
                e = wsm__buf_add(&out, iov[2].buffer.value, iov[2].buffer.length);
        }
        wsm__gss.release_iov_buffer(&min, iov, 3);
        free(data);
    }
    if (!e)
        e = wsm__mpenc_build_end(&out);
    if (e) {
        wsm__buf_free(&out);
        return e;
    }
    *content_type = wsm__mpenc_content_type_str(c->proto);
    *body = wsm__buf_steal(&out, body_len);
    return *body ? WSM_OK : WSM_ERR_NOMEM;
}
