/* Fuzz target: the SOAP envelope parser and the header reader. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <libxml/parser.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        xmlInitParser();
        ready = 1;
    }
    struct wsm_limits lim = {.max_size = 512000, .max_depth = 32};
    struct wsm_envelope *env = NULL;
    char msgid[256];
    if (wsm__envelope_parse((const char *)data, size, &lim, &env, msgid, sizeof(msgid)) == WSM_OK) {
        /* Touch what handlers read. */
        (void)wsm__envelope_selector(env, "ShellId");
        (void)wsm__envelope_option(env, "WINRS_NOPROFILE");
        struct wsm_buf out;
        wsm__buf_init(&out, 0);
        wsm__reply_begin(&out, env->action ? env->action : "x", env->message_id, NULL);
        wsm__reply_end(&out);
        wsm__buf_free(&out);
        wsm__envelope_free(env);
    }
    return 0;
}
