/* Bounded dynamic buffers: a buffer refuses to grow past its cap, so no
 * amount of input from the network can make one grow without limit. */
#ifndef WSM_BUF_H
#define WSM_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "wsm/wsm.h"

struct wsm_buf {
    char *data; /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t alloc;
    size_t cap; /* 0: the default cap (64 MiB) */
};

void wsm__buf_init(struct wsm_buf *b, size_t cap);
void wsm__buf_free(struct wsm_buf *b);
void wsm__buf_reset(struct wsm_buf *b);
enum wsm_err wsm__buf_reserve(struct wsm_buf *b, size_t extra);
enum wsm_err wsm__buf_add(struct wsm_buf *b, const void *p, size_t n);
enum wsm_err wsm__buf_puts(struct wsm_buf *b, const char *s);
enum wsm_err wsm__buf_printf(struct wsm_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s with &, <, >, " and ' escaped for XML text and attributes. */
enum wsm_err wsm__buf_xml(struct wsm_buf *b, const char *s);
enum wsm_err wsm__buf_xmln(struct wsm_buf *b, const char *s, size_t n);
/* Hands the data over to the caller (free()); the buffer is left empty. */
char *wsm__buf_steal(struct wsm_buf *b, size_t *len);

#endif
