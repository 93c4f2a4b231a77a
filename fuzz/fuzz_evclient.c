/* Fuzz target: libwsm's reading of WS-Eventing replies (src/lib/ev_reply.c)
 * as a subscriber meets them: the envelope parsed as a reply, then read as
 * a SubscribeResponse, a PullResponse (events and the header bookmark,
 * each serialized standalone), a RenewResponse and a GetStatusResponse;
 * and the body's text as an e:Expires value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "envelope.h"
#include "ev_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *ud, const char *xml, const char *bookmark)
{
    size_t *total = ud;
    *total += strlen(xml) + (bookmark ? strlen(bookmark) : 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        xmlInitParser();
        ready = 1;
    }
    if (size < 256) { /* short inputs: also an Expires value */
        char t[256];
        memcpy(t, data, size);
        t[size] = '\0';
        long long at;
        (void)wsm__ev_expires_at(t, 1000, &at);
        (void)wsm__ev_fault_err(t);
    }
    struct wsm_limits lim = {.max_size = 512000, .response = 1};
    struct wsm_envelope *env = NULL;
    if (wsm__envelope_parse((const char *)data, size, &lim, &env, NULL, 0) != WSM_OK)
        return 0;
    char why[128];
    struct wsm__ev_sub_reply r;
    if (wsm__ev_subscribe_reply(env, 0, &r, why, sizeof(why)) == WSM_OK)
        wsm__ev_sub_reply_clear(&r);
    char *bm = NULL, *ctx = NULL;
    size_t n = 0, total = 0;
    (void)wsm__ev_pull_reply(env, on_event, &total, &bm, &ctx, &n, why, sizeof(why));
    free(bm);
    free(ctx);
    long long at;
    (void)wsm__ev_expires_reply(env, "RenewResponse", 0, &at, why, sizeof(why));
    (void)wsm__ev_expires_reply(env, "GetStatusResponse", 0, &at, why, sizeof(why));
    wsm__envelope_free(env);
    return 0;
}
