/* WWW-Authenticate, as a client reads it (RFC 9110 11.6.1):
 *
 *   challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *
 * Several challenges may share a header, separated by commas, and
 * auth-params are separated by commas too: an element that starts with
 * "name=" continues the previous challenge; any other element starts a
 * new one. Everything is bounded by the input (http.c caps the head). */
#include "wwwauth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

struct challenge {
    const char *scheme;
    size_t slen;
    const char *rest; /* token68 or the first auth-param; may be empty */
    size_t rlen;
};

/* The next comma-separated element of [p, end) (quotes respected), trimmed.
 * Returns 0 when there is none left. */
static int next_element(const char **p, const char *end, const char **e, size_t *elen)
{
    const char *s = *p;
    while (s < end) {
        const char *q = s;
        int quoted = 0;
        while (q < end && (quoted || *q != ',')) {
            if (*q == '\\' && quoted && q + 1 < end)
                q++;
            else if (*q == '"')
                quoted = !quoted;
            q++;
        }
        const char *a = s, *b = q;
        while (a < b && is_ws(*a))
            a++;
        while (b > a && is_ws(b[-1]))
            b--;
        s = q < end ? q + 1 : q;
        if (b > a) {
            *p = s;
            *e = a;
            *elen = (size_t)(b - a);
            return 1;
        }
    }
    *p = s;
    return 0;
}

/* Whether element e starts a challenge (else it is an auth-param of the
 * previous one); if so, fills c. */
static int challenge_of(const char *e, size_t n, struct challenge *c)
{
    size_t k = 0;
    while (k < n && is_tchar((unsigned char)e[k]))
        k++;
    if (k == 0)
        return 0;
    size_t j = k;
    while (j < n && is_ws(e[j]))
        j++;
    if (j < n && e[j] == '=' && (j == k || j + 1 >= n || e[j + 1] != '='))
        return 0; /* name=value */
    if (k < n && !is_ws(e[k]))
        return 0; /* "scheme" glued to something: not a challenge we read */
    c->scheme = e;
    c->slen = k;
    c->rest = e + j;
    c->rlen = n - j;
    return 1;
}

/* Calls f on each challenge of www; stops when f returns nonzero. */
static int each_challenge(const char *www, int (*f)(void *, const struct challenge *), void *ud)
{
    if (!www)
        return 0;
    const char *line = www;
    while (*line) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *p = line, *e;
        size_t n;
        while (next_element(&p, end, &e, &n)) {
            struct challenge c;
            if (challenge_of(e, n, &c) && f(ud, &c))
                return 1;
        }
        line = eol ? eol + 1 : end;
    }
    return 0;
}

struct find {
    const char *scheme;
    const struct challenge *found;
    struct challenge c;
};

static int match(void *ud, const struct challenge *c)
{
    struct find *f = ud;
    if (c->slen != strlen(f->scheme) || strncasecmp(c->scheme, f->scheme, c->slen) != 0)
        return 0;
    f->c = *c;
    f->found = &f->c;
    return 1;
}

static int is_t68char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~+/", c));
}

static int is_token68(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_t68char(s[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

enum wsm_err wsm__www_token(const char *www, const char *scheme, unsigned char **tok, size_t *len)
{
    struct find f = {.scheme = scheme};
    *tok = NULL;
    *len = 0;
    if (!scheme || !each_challenge(www, match, &f))
        return WSM_ERR_NOT_FOUND;
    const struct challenge *c = f.found;
    if (c->rlen == 0)
        return WSM_OK;
    if (!is_token68(c->rest, c->rlen)) {
        /* auth-params (name=value), as Basic's realm: no token. */
        const char *eq = memchr(c->rest, '=', c->rlen);
        size_t k = eq ? (size_t)(eq - c->rest) : 0;
        while (k > 0 && is_ws(c->rest[k - 1]))
            k--;
        int named = eq && k > 0;
        for (size_t i = 0; named && i < k; i++)
            named = is_tchar((unsigned char)c->rest[i]);
        return named ? WSM_OK : WSM_ERR_AUTH;
    }
    if (c->rlen > wsm__base64_enclen(WSM_WWW_MAX_TOKEN))
        return WSM_ERR_AUTH;
    size_t cap = c->rlen / 4 * 3 + 3;
    unsigned char *t = malloc(cap);
    if (!t)
        return WSM_ERR_NOMEM;
    size_t n = 0;
    if (wsm__base64_decode(c->rest, c->rlen, t, cap, &n) != WSM_OK || n == 0) {
        free(t);
        return WSM_ERR_AUTH;
    }
    *tok = t;
    *len = n;
    return WSM_OK;
}

struct list {
    char *out;
    size_t n, used;
};

static int add_scheme(void *ud, const struct challenge *c)
{
    struct list *l = ud;
    const char *sep = l->used ? ", " : "";
    size_t need = strlen(sep) + c->slen;
    if (l->used + need + 1 > l->n)
        return 1;
    memcpy(l->out + l->used, sep, strlen(sep));
    memcpy(l->out + l->used + strlen(sep), c->scheme, c->slen);
    l->used += need;
    l->out[l->used] = '\0';
    return 0;
}

void wsm__www_schemes(const char *www, char *out, size_t n)
{
    if (!out || n == 0)
        return;
    out[0] = '\0';
    struct list l = {out, n, 0};
    each_challenge(www, add_scheme, &l);
}
