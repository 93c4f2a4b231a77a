/* Fuzz target: libwsm's reading of management-data replies, whoever sends
 * them (src/lib/cim_fast.c, cim_enum.c, cim_xml.c): the reply to an
 * Enumerate or a Pull read as fetch_batch reads it (without a tree first,
 * else checked and taken as a tree) and every item handed out as
 * wsm_enum_next hands it out; the same bytes through the tree path alone;
 * and as a Get's reply, its payload taken and normalised. Each item handed
 * out is a NUL-terminated string whose length the copy says. The first byte
 * chooses the operation, the HTTP status (200 or 500) and whether the reply
 * must relate to the request's MessageID. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "cim_client_priv.h"
#include "client_internal.h"
#include "fuzz_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSGID "uuid:9A4C2E1B-7D3F-4A5B-8C6D-0E1F2A3B4C5D"

/* Every item of en, then en freed without a Release (nothing is sent). */
static void drain(wsm_enum *en)
{
    en->end = 1; /* no Pull for more when the batch runs out */
    char *x = NULL;
    for (int i = 0; i < 100000 && wsm_enum_next(en, &x) == WSM_OK; i++) {
        if (!x || !*x)
            abort(); /* an item is an element's text, never empty */
        free(x);
        x = NULL;
    }
    wsm_enum_free(en);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wsm_session *s = fuzz_client_session();
    if (!size)
        return 0;
    unsigned flags = data[0];
    const char *op = flags & 1 ? "PullResponse" : "EnumerateResponse";
    long status = flags & 2 ? 500 : 200;
    const char *msgid = flags & 4 ? NULL : MSGID;
    data++;
    size--;

    /* As fetch_batch: the reply read without a tree, else as a tree. */
    struct wsm_buf resp;
    wsm__buf_init(&resp, 0);
    if (wsm__buf_add(&resp, data, size) != WSM_OK)
        return 0;
    wsm_enum *en = wsm__cim_enum_alloc(s);
    if (en) {
        wsm__session_forget_errors(s);
        if (status == 200 && wsm__cim_fast_reply(en, &resp, msgid, op)) {
            drain(en);
        } else {
            struct wsm_envelope *env = NULL;
            if (wsm__reply_check(s, resp.data, resp.len, status, msgid, &env) == WSM_OK)
                (void)wsm__cim_take_batch(en, env, op);
            drain(en);
        }
    }
    /* The tree path alone. */
    if ((en = wsm__cim_enum_alloc(s))) {
        struct wsm_envelope *env = NULL;
        wsm__session_forget_errors(s);
        if (wsm__reply_check(s, resp.data, resp.len, status, msgid, &env) == WSM_OK)
            (void)wsm__cim_take_batch(en, env, op);
        drain(en);
    }
    /* As a Get's reply. */
    struct wsm_envelope *env = NULL;
    wsm__session_forget_errors(s);
    if (wsm__reply_check(s, resp.data, resp.len, status, msgid, &env) == WSM_OK) {
        char *x = NULL;
        if (wsm__cim_take_payload(s, env, flags & 8, &x) == WSM_OK)
            free(x);
        wsm__envelope_free(env);
    }
    wsm__buf_free(&resp);
    return 0;
}
