/* Fuzz target: the event source's requests (src/daemon/evsub.c, evpull.c).
 * The input, as an envelope, goes to Subscribe, Renew and Pull as dispatch
 * would hand it over (the journal is a folder that does not exist, so a
 * request that parses to the end is refused at the journal, and nothing is
 * stored); as text, to the expiry and xs:dateTime parsers. Invariants: a
 * refusal is a value of enum wsm_err with a one-line message, an expiry
 * accepted lies after "now". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evpush.h"
#include "evsub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(struct wsmd_server *srv, struct wsm_envelope *env, wsmd_handler h)
{
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    struct wsmd_call call = {.srv = srv, .env = env, .user = "fuzz", .out = &out};
    enum wsm_err e = h(&call);
    if ((unsigned)e >= WSM_ERR__COUNT)
        abort();
    if (call.fault_message && strchr(call.fault_message, '\n'))
        abort(); /* fault texts are one line (they go into the log line too) */
    if (call.settle)
        call.settle(call.settle_arg, 0);
    wsm__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct wsmd_server srv;
    srv.cfg.journal_dir = "/nonexistent/wsmd-fuzz-journal";
    srv.cfg.max_envelope = 153600;

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    long long now = 1796637600000LL, t = 0;
    if (wsmd__evsub_expires(text, now, &t) == WSM_OK && t <= now)
        abort();
    wsmd__evsub_datetime(text, &t);
    /* The push delivery's stored form (evpush.c), read back at start. */
    struct wsmd_evpush_cfg c;
    if (wsmd__evpush_cfg_parse(text, &c) == 0) {
        if (!c.notify || !*c.notify || c.max_elements == 0 || c.retry_ms <= 0)
            abort();
        /* How deliveries authenticate: a known kind, with what it needs. */
        if (c.auth < WSMD_EVPUSH_AUTH_NONE || c.auth > WSMD_EVPUSH_AUTH_CERT ||
            ((c.auth == WSMD_EVPUSH_AUTH_BASIC || c.auth == WSMD_EVPUSH_AUTH_CERT) && !*c.user))
            abort();
        wsmd__evpush_cfg_clear(&c);
    }
    free(text);

    struct wsm_envelope *env = NULL;
    if (wsm__envelope_parse((const char *)data, size, NULL, &env, NULL, 0) != WSM_OK)
        return 0;
    run(&srv, env, wsmd__evsub_subscribe);
    run(&srv, env, wsmd__evsub_renew);
    run(&srv, env, wsmd__evsub_pull);
    wsm__envelope_free(env);
    return 0;
}
