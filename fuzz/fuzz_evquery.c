/* Fuzz target: the event source's QueryList/XPath compiler and matcher
 * (src/evsrc/query.c) and its renderer (render.c).
 *
 * The input is a query: compiled, and when accepted matched against a few
 * fixed entries (every channel, a unit, levels, odd providers, times at 0
 * and far ahead). An accepted query must have given no reason; a refused
 * one must have given one. Then the same bytes are rendered as the
 * entry's MESSAGE and a binary field, and the event must be well-formed
 * XML whatever the bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "buf.h"
#include "evsrc_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define F(k, v)                                                                                    \
    {                                                                                              \
        k, sizeof(k) - 1, v, sizeof(v) - 1                                                         \
    }
static const struct wsmd_evfield e1[] = {F("SYSLOG_IDENTIFIER", "myapp"), F("SYSLOG_FACILITY", "1"),
                                         F("PRIORITY", "3"), F("EVENT_ID", "100"), F("_PID", "42")};
static const struct wsmd_evfield e2[] = {F("SYSLOG_IDENTIFIER", "sshd"), F("SYSLOG_FACILITY", "4"),
                                         F("_SYSTEMD_UNIT", "ssh.service"), F("PRIORITY", "6")};
static const struct wsmd_evfield e3[] = {F("_TRANSPORT", "kernel"), F("PRIORITY", "0"),
                                         F("MESSAGE_ID", "39f53479d3a045ac8e11786248231fbf")};
static const struct wsmd_evfield e4[] = {F("MESSAGE", "")};

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        xmlSetGenericErrorFunc(NULL, NULL);
        quiet = 1;
    }
    char why[256];
    struct wsmd_evq *q = NULL;
    /* Odd sizes with IgnoreChannelError. */
    enum wsm_err e =
        wsmd__evq_compile_ex((const char *)data, size, size % 2 ? WSMD_EVQ_IGNORE_CHANNEL_ERROR : 0,
                             &q, why, sizeof(why));
    check((e == WSM_OK) == (q != NULL));
    check(e == WSM_OK || e == WSM_ERR_NOMEM || why[0] != '\0');
    struct {
        const struct wsmd_evfield *f;
        size_t n;
        uint64_t t;
    } ents[] = {
        {e1, 5, 1796638096661334ULL},
        {e2, 4, 1},
        {e3, 3, UINT64_MAX / 2},
        {e4, 1, 0},
    };
    for (size_t i = 0; q && i < sizeof(ents) / sizeof(ents[0]); i++) {
        struct wsmd_evin ev = {.f = ents[i].f, .n = ents[i].n, .realtime_usec = ents[i].t};
        wsmd__evin_derive(&ev);
        char chan[WSMD_EVCHAN_NAME_MAX];
        chan[0] = '\0';
        if (wsmd__evq_match(q, &ev, 1796638096661334ULL, chan))
            check(chan[0] != '\0' && strlen(chan) < sizeof(chan));
    }
    wsmd__evq_free(q);

    /* The same bytes as a message and a field value (and a name). */
    struct wsmd_evfield f[] = {
        {"MESSAGE", 7, (const char *)data, size},
        {"SYSLOG_IDENTIFIER", 17, (const char *)data, size < 64 ? size : 64},
        {(const char *)data, size < 16 ? size : 16, (const char *)data, size},
        F("PRIORITY", "4"),
    };
    struct wsmd_evin ev = {.f = f, .n = 4, .realtime_usec = size * 977777ULL, .seqnum = size};
    wsmd__evin_derive(&ev);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    check(wsmd__ev_render(&ev, "Application", "host", 1, &b) == WSM_OK);
    xmlDocPtr d = xmlReadMemory(b.data, (int)b.len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    check(d != NULL);
    xmlFreeDoc(d);
    wsm__buf_free(&b);
    return 0;
}
