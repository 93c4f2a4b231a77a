/* What the fuzz targets of libwsm's reply readers (fuzz_shellrx.c,
 * fuzz_cimreply.c) share: one session, made at the first input with
 * libxml2 set up, never connected (the targets send nothing). */
#ifndef WSM_FUZZ_CLIENT_H
#define WSM_FUZZ_CLIENT_H

#include <stdlib.h>

#include <libxml/parser.h>

#include "wsm/wsm.h"

static inline wsm_session *fuzz_client_session(void)
{
    static wsm_session *s;
    if (!s) {
        xmlInitParser();
        struct wsm_session_opts o = {
            .url = "http://127.0.0.1:9/wsman", .user = "u", .password = "p"};
        if (wsm_session_new(&o, &s) != WSM_OK)
            abort();
    }
    return s;
}

#endif
