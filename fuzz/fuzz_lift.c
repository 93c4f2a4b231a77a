/* Fuzz target: lifting CDATA out of a delivery body (src/collector/lift.c)
 * must not change what the parser makes of it. The input is prepared as
 * the collector does (events.h), then parsed twice: as it is, and lifted,
 * parsed and restored. Both parses succeed or fail together, and the two
 * trees serialize to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "events.h"
#include "lift.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static char *dump(xmlDocPtr d, int *len)
{
    xmlChar *s = NULL;
    xmlDocDumpMemory(d, &s, len);
    return (char *)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1 << 20))
        return 0;
    struct wsm_buf clean;
    wsm__buf_init(&clean, 0);
    size_t fixed = 0;
    if (wsmd__events_prepare(data, size, &clean, 3 * size + 64, &fixed) != WSM_OK || !clean.data ||
        memmem(clean.data, clean.len, "<!DOCTYPE", 9) ||
        memmem(clean.data, clean.len, "<!ENTITY", 8)) {
        wsm__buf_free(&clean);
        return 0;
    }
    xmlDocPtr a = xmlReadMemory(clean.data, (int)clean.len, NULL, "UTF-8", OPTS);
    struct wsmd_lifted *l = NULL;
    if (wsmd__lift(&clean, &l) != WSM_OK)
        abort();
    xmlDocPtr b = xmlReadMemory(clean.data ? clean.data : "", (int)clean.len, NULL, "UTF-8", OPTS);
    if (b && wsmd__lift_restore(l, b) != WSM_OK)
        abort();
    if (!a != !b)
        abort(); /* lifting changed whether the body parses */
    if (a) {
        int la = 0, lb = 0;
        char *sa = dump(a, &la), *sb = dump(b, &lb);
        if (la != lb || memcmp(sa, sb, (size_t)la) != 0)
            abort(); /* or what it parses to */
        xmlFree(sa);
        xmlFree(sb);
    }
    xmlFreeDoc(a);
    xmlFreeDoc(b);
    wsmd__lift_free(l);
    wsm__buf_free(&clean);
    return 0;
}
