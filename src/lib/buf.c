#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CAP ((size_t)64 * 1024 * 1024)

void wsm__buf_init(struct wsm_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : DEFAULT_CAP;
}

void wsm__buf_free(struct wsm_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

void wsm__buf_reset(struct wsm_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

enum wsm_err wsm__buf_reserve(struct wsm_buf *b, size_t extra)
{
    if (extra > b->cap || b->len > b->cap - extra)
        return WSM_ERR_ENVELOPE_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return WSM_OK;
    size_t n = b->alloc ? b->alloc : 256;
    while (n < need)
        n *= 2;
    if (n > b->cap + 1)
        n = b->cap + 1;
    char *p = realloc(b->data, n);
    if (!p)
        return WSM_ERR_NOMEM;
    b->data = p;
    b->alloc = n;
    return WSM_OK;
}

enum wsm_err wsm__buf_add(struct wsm_buf *b, const void *p, size_t n)
{
    enum wsm_err e = wsm__buf_reserve(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return WSM_OK;
}

enum wsm_err wsm__buf_puts(struct wsm_buf *b, const char *s)
{
    return wsm__buf_add(b, s, strlen(s));
}

enum wsm_err wsm__buf_printf(struct wsm_buf *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[256];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return WSM_ERR_INVALID_ARG;
    if ((size_t)n < sizeof(tmp))
        return wsm__buf_add(b, tmp, (size_t)n);
    enum wsm_err e = wsm__buf_reserve(b, (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return WSM_OK;
}

enum wsm_err wsm__buf_xmln(struct wsm_buf *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\r':
            rep = "&#13;";
            break;
        default:
            continue;
        }
        enum wsm_err e = wsm__buf_add(b, s + start, i - start);
        if (!e)
            e = wsm__buf_puts(b, rep);
        if (e)
            return e;
        start = i + 1;
    }
    return wsm__buf_add(b, s + start, n - start);
}

enum wsm_err wsm__buf_xml(struct wsm_buf *b, const char *s)
{
    return wsm__buf_xmln(b, s ? s : "", s ? strlen(s) : 0);
}

char *wsm__buf_steal(struct wsm_buf *b, size_t *len)
{
    if (!b->data) {
        if (wsm__buf_reserve(b, 0) != WSM_OK)
            return NULL;
        b->data[0] = '\0';
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->alloc = 0;
    return p;
}
