/* Fuzz target: subscription files (src/collector/subscription.c, subwrite.c).
 * Parses the input; when it is accepted, checks the invariants of the
 * writers: the file written back parses to the same Version, and the
 * Subscribe envelope (HTTP and HTTPS, with and without a bookmark) is
 * well-formed XML with the Identifier it promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "buf.h"
#include "subscription.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_envelope(const struct wsmd_sub *s, const struct wsmd_sub_ctx *ctx)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    if (wsmd__sub_write_subscribe(&b, s, ctx) == WSM_OK) {
        xmlDocPtr d = xmlReadMemory(b.data, (int)b.len, NULL, "UTF-8",
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!d || !strstr(b.data, s->version))
            abort(); /* the envelope must be XML and carry the Identifier */
        xmlFreeDoc(d);
    } else {
        abort(); /* nothing in an accepted file may stop the envelope */
    }
    wsm__buf_free(&b);
}

static int password_in(const xmlNode *n)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE &&
            (!strcmp((const char *)n->name, "Password") ||
             !strcmp((const char *)n->name, "CommonPassword") || password_in(n->children)))
            return 1;
    return 0;
}

/* Whether the file written back has an element that holds a password. */
static int has_password_element(const struct wsm_buf *x)
{
    xmlDocPtr d = xmlReadMemory(x->data, (int)x->len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d)
        abort(); /* what we write is XML */
    int r = password_in(xmlDocGetRootElement(d));
    xmlFreeDoc(d);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsmd_sub *s = NULL;
    char err[256];
    if (wsmd__sub_parse((const char *)data, size, &s, err, sizeof(err)) != WSM_OK) {
        if (strchr(err, '\n'))
            abort(); /* errors are one line */
        return 0;
    }
    static const char *const who[] = {"WS1$@EXAMPLE.COM", "ws1.example.com", "EXAMPLE\\alice", ""};
    for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++)
        (void)wsmd__sub_allows(s, who[i]);

    struct wsm_buf x;
    wsm__buf_init(&x, 0);
    if (wsmd__sub_write_xml(&x, s) != WSM_OK)
        abort();
    struct wsmd_sub *t = NULL;
    if (wsmd__sub_parse(x.data, x.len, &t, err, sizeof(err)) != WSM_OK ||
        strcmp(s->version, t->version) != 0)
        abort(); /* the file written back must read back the same */
    /* The event sources too, and never a password (it is not written back):
     * no Password or CommonPassword element (text may say "Password>": a
     * query's channel name did, in the campaign of 2026-12-07). */
    if (t->nsources != s->nsources || wsmd__sub_has_password(t) || has_password_element(&x))
        abort();
    for (size_t i = 0; i < s->nsources; i++)
        if (strcmp(s->sources[i].address, t->sources[i].address) ||
            s->sources[i].enabled != t->sources[i].enabled ||
            !s->sources[i].user != !t->sources[i].user)
            abort();
    wsmd__sub_free(t);
    wsm__buf_free(&x);

    struct wsmd_sub_ctx ctx = {.notify_base = "http://wec.example.com:5985"};
    check_envelope(s, &ctx);
    ctx.notify_base = "https://wec.example.com:5986";
    ctx.issuer_thumbprints = "0123456789ABCDEF0123456789ABCDEF01234567";
    ctx.bookmark_xml = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"7\" "
                       "IsCurrent=\"true\"/></BookmarkList>";
    check_envelope(s, &ctx);
    wsmd__sub_free(s);
    return 0;
}
