/* The event source's reading side when the build has none (src/evsrc):
 * weak definitions of evsrc.h that the journal reader's own replace at
 * link time. Without a reader, every Subscribe is answered that the event
 * log cannot be read on this host (evsub.c), instead of the build failing. */
#include "evsrc.h"

__attribute__((weak)) enum wsm_err wsmd__evq_compile(const char *text, size_t len,
                                                     struct wsmd_evq **out, char *why,
                                                     size_t whylen)
{
    (void)text;
    (void)len;
    (void)why;
    (void)whylen;
    *out = NULL;
    return WSM_OK; /* the open below tells the subscriber */
}

__attribute__((weak)) void wsmd__evq_free(struct wsmd_evq *q)
{
    (void)q;
}

__attribute__((weak)) enum wsm_err wsmd__evr_open(const struct wsmd_evreader_opts *o,
                                                  struct wsmd_evreader **out)
{
    (void)o;
    *out = NULL;
    return WSM_ERR_IO;
}

__attribute__((weak)) int wsmd__evr_fd(struct wsmd_evreader *r)
{
    (void)r;
    return -1;
}

__attribute__((weak)) enum wsm_err wsmd__evr_next(struct wsmd_evreader *r, struct wsm_buf *out)
{
    (void)r;
    (void)out;
    return WSM_ERR_TIMED_OUT;
}

__attribute__((weak)) enum wsm_err wsmd__evr_bookmark(struct wsmd_evreader *r,
                                                      struct wsm_buf *out)
{
    (void)r;
    (void)out;
    return WSM_ERR_IO;
}

__attribute__((weak)) void wsmd__evr_close(struct wsmd_evreader *r)
{
    (void)r;
}
