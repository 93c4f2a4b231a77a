/* Fuzz target: the client's reading of a fault, whoever wrote it
 * (src/lib/fault_read.c: code, subcode, reason, WSManFault, FaultDetail,
 * a CIM error such as OMI's OMI_Error), then winrm's printing of it in
 * every format (src/cli/faultfmt.c) with the reply itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "client_internal.h"
#include "faultfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* client.c's, which the target does not link. */
void wsm__session_errorf(wsm_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static FILE *devnull;
    if (!ready) {
        xmlInitParser();
        devnull = fopen("/dev/null", "w");
        ready = 1;
    }
    struct wsm_limits lim = {.max_size = 512000, .response = 1};
    struct wsm_envelope *env = NULL;
    if (wsm__envelope_parse((const char *)data, size, &lim, &env, NULL, 0) != WSM_OK)
        return 0;
    wsm_session *s = calloc(1, sizeof(*s));
    if (!s) {
        wsm__envelope_free(env);
        return 0;
    }
    wsm__session_keep_reply(s, (const char *)data, size);
    wsm__fault_read(s, env, 500);
    const struct wsm_fault *f = wsm_session_fault(s);
    char msg[1024];
    cli_fault_message(f, s->error, msg, sizeof(msg));
    for (int fmt = FMT_TEXT; devnull && fmt <= FMT_JSON; fmt++)
        cli_print_failure(devnull, (enum cli_format)fmt, s->fault_code, msg, f,
                          wsm_session_reply(s, NULL));
    wsm__fault_clear(s);
    free(s);
    wsm__envelope_free(env);
    return 0;
}
