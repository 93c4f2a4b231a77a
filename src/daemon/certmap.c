/* Client-certificate authentication, the text: CertMapping lines parsed
 * (fuzz_certmap), subject patterns matched, and the names of a
 * certificate a Subject is matched against (SAN UPNs and e-mails, CNs). */
#include "certauth.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509-ext.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "server.h"
#include "thumbprint.h"
#include "certauth_priv.h"

/* ---- CertMapping lines ---------------------------------------------------- */

static enum wsm_err fail(char *why, size_t n, const char *msg)
{
    if (why && n)
        snprintf(why, n, "%s", msg);
    return WSM_ERR_INVALID_ARG;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex digits, optionally separated by ':' or ' ' (as certificate viewers
 * show them): 40 (SHA-1, the Windows thumbprint) or 64 (SHA-256). */
static int parse_thumbprint(const char *v, size_t vl, unsigned char out[32], size_t *outlen)
{
    size_t nd = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] == ':' || v[i] == ' ')
            continue;
        int h = hexval((unsigned char)v[i]);
        if (h < 0 || nd >= 64)
            return -1;
        if (nd % 2 == 0)
            out[nd / 2] = (unsigned char)(h << 4);
        else
            out[nd / 2] |= (unsigned char)h;
        nd++;
    }
    if (nd != 40 && nd != 64)
        return -1;
    *outlen = nd / 2;
    return 0;
}

static int key_is(const char *k, size_t kl, const char *name)
{
    return kl == strlen(name) && strncasecmp(k, name, kl) == 0;
}

enum wsm_err wsmd__certmap_parse(const char *value, struct wsmd_certmap *out, char *why,
                                 size_t whylen)
{
    int have_issuer = 0, have_subject = 0, have_user = 0, have_root = 0;
    const char *p = value;

    memset(out, 0, sizeof(*out));
    if (!p)
        return fail(why, whylen, "empty mapping");
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '=' || p == k)
            return fail(why, whylen, "expected Key=value items");
        size_t kl = (size_t)(p - k);
        const char *v;
        size_t vl;
        p++;
        if (*p == '"') {
            v = ++p;
            const char *q = strchr(p, '"');
            if (!q)
                return fail(why, whylen, "a quoted value has no closing quote");
            vl = (size_t)(q - v);
            p = q + 1;
            if (*p && *p != ' ' && *p != '\t')
                return fail(why, whylen, "text after a closing quote");
        } else {
            v = p;
            while (*p && *p != ' ' && *p != '\t')
                p++;
            vl = (size_t)(p - v);
            if (memchr(v, '"', vl))
                return fail(why, whylen, "a quote inside a value");
        }
        if (vl == 0)
            return fail(why, whylen, "an empty value");
        for (size_t i = 0; i < vl; i++)
            if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
                return fail(why, whylen, "values are printable ASCII");

        if (key_is(k, kl, "Issuer")) {
            if (have_issuer++)
                return fail(why, whylen, "Issuer given twice");
            if (vl == 1 && v[0] == '*')
                out->issuer_len = 0;
            else if (parse_thumbprint(v, vl, out->issuer, &out->issuer_len) != 0)
                return fail(why, whylen,
                            "Issuer is the SHA-1 (40 hex digits) or SHA-256 (64) thumbprint of "
                            "a CA certificate of ClientCAFile, or *");
        } else if (key_is(k, kl, "Subject")) {
            if (have_subject++)
                return fail(why, whylen, "Subject given twice");
            if (vl >= sizeof(out->subject))
                return fail(why, whylen, "Subject is too long");
            if (memchr(v + 1, '*', vl - 1))
                return fail(why, whylen, "'*' may only start a Subject pattern");
            memcpy(out->subject, v, vl);
            out->subject[vl] = '\0';
        } else if (key_is(k, kl, "UserName")) {
            if (have_user++)
                return fail(why, whylen, "UserName given twice");
            if (vl >= sizeof(out->user) || memchr(v, ' ', vl))
                return fail(why, whylen, "UserName is not a valid user name");
            memcpy(out->user, v, vl);
            out->user[vl] = '\0';
            if (!wsmd__username_ok(out->user))
                return fail(why, whylen, "UserName is not a valid user name");
        } else if (key_is(k, kl, "AllowRoot")) {
            if (have_root++)
                return fail(why, whylen, "AllowRoot given twice");
            if (key_is(v, vl, "true") || key_is(v, vl, "yes") || key_is(v, vl, "1"))
                out->allow_root = 1;
            else if (key_is(v, vl, "false") || key_is(v, vl, "no") || key_is(v, vl, "0"))
                out->allow_root = 0;
            else
                return fail(why, whylen, "AllowRoot is true or false");
        } else {
            return fail(why, whylen, "unknown key (want Issuer=, Subject=, UserName=, AllowRoot=)");
        }
    }
    if (!have_issuer)
        return fail(why, whylen, "Issuer= is missing (a CA thumbprint, or *)");
    if (!have_subject)
        return fail(why, whylen, "Subject= is missing (a name pattern, or *)");
    if (!have_user)
        return fail(why, whylen, "UserName= is missing");
    if (strcmp(out->user, "root") == 0 && !out->allow_root)
        return fail(why, whylen, "the mapping is to root: add AllowRoot=true if that is meant");
    return WSM_OK;
}

int wsmd__certmap_match(const char *pattern, const char *name, size_t len)
{
    if (!pattern || !name || len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    if (pattern[0] == '*') {
        size_t sl = strlen(pattern + 1);
        if (sl == 0)
            return 1;
        return len > sl && strncasecmp(name + len - sl, pattern + 1, sl) == 0;
    }
    return strlen(pattern) == len && strncasecmp(name, pattern, len) == 0;
}

/* ---- names of a certificate ------------------------------------------------ */

static int san_names(gnutls_x509_crt_t crt, name_fn fn, void *arg)
{
    gnutls_datum_t ext = {NULL, 0};
    unsigned crit = 0;
    int r = 0;
    if (gnutls_x509_crt_get_extension_by_oid2(crt, GNUTLS_X509EXT_OID_SAN, 0, &ext, &crit) < 0)
        return 0;
    gnutls_subject_alt_names_t sans;
    if (gnutls_subject_alt_names_init(&sans) < 0) {
        gnutls_free(ext.data);
        return 0;
    }
    if (gnutls_x509_ext_import_subject_alt_names(&ext, sans, 0) >= 0) {
        for (unsigned seq = 0; seq < MAX_SAN && !r; seq++) {
            unsigned type = 0;
            gnutls_datum_t san = {NULL, 0}, oid = {NULL, 0};
            if (gnutls_subject_alt_names_get(sans, seq, &type, &san, &oid) < 0)
                break;
            if (type == GNUTLS_SAN_RFC822NAME && san.data) {
                r = fn(arg, (const char *)san.data, san.size);
            } else if (type == GNUTLS_SAN_OTHERNAME && san.data && oid.data &&
                       oid.size == strlen(UPN_OID) && memcmp(oid.data, UPN_OID, oid.size) == 0) {
                unsigned vt = 0;
                gnutls_datum_t v = {NULL, 0};
                if (gnutls_x509_othername_to_virtual(UPN_OID, &san, &vt, &v) >= 0) {
                    if (vt == GNUTLS_SAN_OTHERNAME_MSUSERPRINCIPAL && v.data)
                        r = fn(arg, (const char *)v.data, v.size);
                    gnutls_free(v.data);
                }
            }
        }
    }
    gnutls_subject_alt_names_deinit(sans);
    gnutls_free(ext.data);
    return r;
}

int wsmd__cert_crt_names(gnutls_x509_crt_t crt, name_fn fn, void *arg)
{
    int r = san_names(crt, fn, arg);
    for (unsigned i = 0; i < MAX_CN && !r; i++) {
        char cn[WSMD_CERTMAP_MAX_SUBJECT];
        size_t sz = sizeof(cn);
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, i, 0, cn, &sz) < 0)
            break;
        if (sz < sizeof(cn))
            r = fn(arg, cn, strnlen(cn, sz) == sz ? sz : sizeof(cn)); /* a NUL: never matches */
    }
    return r;
}

int wsmd__cert_names(const unsigned char *der, size_t len, name_fn fn, void *arg)
{
    gnutls_x509_crt_t crt;
    if (len > 0xffffffffu || gnutls_x509_crt_init(&crt) < 0)
        return -1;
    gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
    int r = -1;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) >= 0)
        r = wsmd__cert_crt_names(crt, fn, arg);
    gnutls_x509_crt_deinit(crt);
    return r;
}
