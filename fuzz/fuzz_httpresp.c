/* Fuzz target: the plain-HTTP client's response reader (src/lib/http.c):
 * status line, headers, Content-Length, chunked and close-delimited
 * bodies, trailers, interim 1xx responses, and the bounds on all of them.
 *
 * The first input byte seeds how the rest is cut into reads (as a socket
 * would deliver it: one byte at a time, odd sizes, or all at once); the
 * rest is what the server sent. Responses are read one after another for
 * as long as the reader says the connection may be kept. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
    const uint8_t *p;
    size_t n;
    uint32_t seed;
};

static enum wsm_err mem_src(void *ud, char *p, size_t n, size_t *got, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct mem *m = ud;
    size_t k = m->n < n ? m->n : n;
    if (m->seed) { /* a pseudo-random read size, 1.. */
        m->seed = m->seed * 1103515245u + 12345u;
        size_t cut = (m->seed >> 16) % (m->seed & 0x100 ? 7 : 4096) + 1;
        if (cut < k)
            k = cut;
    }
    memcpy(p, m->p, k);
    m->p += k;
    m->n -= k;
    *got = k;
    return WSM_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct mem m = {data + 1, size - 1, data[0]};
    struct wsm_http_reader r = {.src = mem_src, .ud = &m};
    if (!(r.buf = malloc(WSM_HTTP_MAX_HEAD)))
        return 0;
    char err[256];
    static struct wsm_http_headers hd; /* Content-Type and WWW-Authenticate kept */
    for (int i = 0; i < 4; i++) {
        struct wsm_buf body;
        struct wsm_http_result res = {.hdrs = (data[0] & 1) ? &hd : NULL};
        wsm__buf_init(&body, 1 << 20);
        r.total = 0;
        enum wsm_err e = wsm__http_read_response(&r, &body, &res, err, sizeof(err));
        if (!e && (res.status < 200 || res.status > 599 || body.len > body.cap || !body.data ||
                   body.data[body.len] != '\0'))
            abort(); /* a broken promise of the reader */
        if (!e && res.hdrs &&
            (strnlen(hd.content_type, sizeof(hd.content_type)) == sizeof(hd.content_type) ||
             strnlen(hd.www, sizeof(hd.www)) == sizeof(hd.www)))
            abort();
        wsm__buf_free(&body);
        if (e || !res.keep_alive)
            break;
    }
    free(r.buf);
    return 0;
}
