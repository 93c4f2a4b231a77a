/* libFuzzer target: the raw XML output's one-line rewriting
 * (wsmd__output_xml_line, src/collector/output.c). Whatever the input, the
 * line holds no CR or LF; and when the input is an XML document (without
 * processing instructions or a DOCTYPE, whose newlines have no escape),
 * the line is one too, with the same canonical form. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>

#include "output.h"

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static xmlChar *canon(const char *x, size_t len)
{
    xmlDocPtr doc = xmlReadMemory(x, (int)len, NULL, "UTF-8", XML_PARSE_NONET | XML_PARSE_NOENT);
    if (!doc)
        return NULL;
    xmlChar *out = NULL;
    if (xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 0, &out) < 0)
        out = NULL;
    xmlFreeDoc(doc);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    xmlSetGenericErrorFunc(NULL, quiet);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    if (wsmd__output_xml_line(&b, (const char *)data, size) != WSM_OK)
        abort();
    if (b.len && (memchr(b.data, '\n', b.len) || memchr(b.data, '\r', b.len)))
        abort();
    if (!memmem(data, size, "<?", 2) && !memmem(data, size, "<!D", 3) &&
        !memchr(data, '\0', size)) {
        xmlChar *a = canon((const char *)data, size);
        if (a) {
            xmlChar *c = canon(b.data ? b.data : "", b.len);
            if (!c || strcmp((const char *)a, (const char *)c) != 0)
                abort();
            xmlFree(c);
            xmlFree(a);
        }
    }
    wsm__buf_free(&b);
    return 0;
}
