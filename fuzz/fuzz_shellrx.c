/* Fuzz target: libwsm's reading of WinRS Receive replies, whoever sends
 * them (src/lib/shell_rx.c, shell_b64.c): wsm__shell_receive_reply as a
 * Receive meets a reply (the streaming SAX pass, and the tree path it falls
 * back to), then the same bytes through the tree path alone. The streaming
 * pass is only a faster way to the tree path's result: when both succeed
 * on a 200 reply they must deliver the same bytes of each stream, the same
 * end and the same exit code. The first byte chooses the HTTP status (200
 * or 500) and whether the reply must relate to the request's MessageID. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "client_internal.h"
#include "fuzz_client.h"
#include "shell_client_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CID "1F0D2A8C-5B3E-4C7A-9D61-0E2B3C4D5E6F"
#define MSGID "uuid:9A4C2E1B-7D3F-4A5B-8C6D-0E1F2A3B4C5D"

struct got {
    struct wsm_buf out, err;
};

static void on_out(void *ud, const void *p, size_t n)
{
    struct got *g = ud;
    (void)wsm__buf_add(&g->out, p, n);
}

static void on_err(void *ud, const void *p, size_t n)
{
    struct got *g = ud;
    (void)wsm__buf_add(&g->err, p, n);
}

static int same(const struct wsm_buf *a, const struct wsm_buf *b)
{
    return a->len == b->len && (!a->len || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsm_session *s = fuzz_client_session();
    if (!size)
        return 0;
    long status = data[0] & 1 ? 500 : 200;
    const char *msgid = data[0] & 2 ? NULL : MSGID;
    data++;
    size--;

    struct wsm_shell sh = {s, (char *)"SHELL", NULL, NULL, 0};
    struct wsm_buf *body = wsm__shell_rx_reply(&sh);
    if (!body)
        return 0;
    struct got a, b;
    wsm__buf_init(&a.out, 0);
    wsm__buf_init(&a.err, 0);
    wsm__buf_init(&b.out, 0);
    wsm__buf_init(&b.err, 0);
    wsm__buf_reset(body);
    if (wsm__buf_add(body, data, size) != WSM_OK)
        goto out;

    struct wsm_receive ra = {on_out, on_err, &a, 0, 0};
    wsm__session_forget_errors(s);
    enum wsm_err ea = wsm__shell_receive_reply(&sh, CID, &ra, body, status, msgid);

    struct wsm_receive rb = {on_out, on_err, &b, 0, 0};
    struct wsm_envelope *env = NULL;
    wsm__session_forget_errors(s);
    enum wsm_err eb = wsm__reply_check(s, body->data, body->len, status, msgid, &env);
    if (eb == WSM_OK) {
        eb = wsm__shell_receive_tree(&sh, env, CID, &rb);
        wsm__envelope_free(env);
    }
    if (status == 200 && ea == WSM_OK && eb == WSM_OK &&
        (!same(&a.out, &b.out) || !same(&a.err, &b.err) || ra.done != rb.done ||
         (ra.done && ra.exit_code != rb.exit_code)))
        abort(); /* the two paths disagree */
out:
    wsm__buf_free(&a.out);
    wsm__buf_free(&a.err);
    wsm__buf_free(&b.out);
    wsm__buf_free(&b.err);
    wsm__shell_rx_free(sh.rx);
    return 0;
}
