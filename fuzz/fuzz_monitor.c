/* Fuzz target: the monitor's request decoder (privsep.h). Whatever the
 * network process sends, the monitor answers with a well-formed reply and
 * never reads past the message. Requests that need a configured daemon or
 * a live monitor are decoded and then refused. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "privsep.h"
#include "pswire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *reply = NULL;
    size_t rlen = 0;
    enum wsm_err e = wsmd__monitor_handle_bytes(data, size, &reply, &rlen);
    if (reply) {
        /* Every reply: PS_REPLY, then the error it carries. */
        struct ps_msg m;
        ps_init(&m);
        if (ps_load(&m, reply, rlen) == 0) {
            if (ps_get_u32(&m) != PS_REPLY || ps_get_u32(&m) != (uint32_t)e)
                abort();
        }
        ps_clear(&m);
        free(reply);
    }
    return 0;
}
