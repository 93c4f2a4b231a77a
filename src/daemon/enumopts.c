/* Options of an Enumerate that enum.c answers with these helpers:
 * w:RequestTotalItemsCountEstimate (DSP0226 8.2.3) and the CIM binding's
 * wsmb:PolymorphismMode (DSP0227 7.3, MS-WSMV 3.1.4.8.2). */
#include <stdlib.h>
#include <string.h>

#include "cimops.h"
#include "cimxml.h"
#include "enumopts.h"
#include "envelope.h"

#define BODY_OPEN "</s:Header><s:Body>"

/* The count is a second pass of the providers with the same filter: the
 * instances are made and dropped one at a time, so it costs the time of
 * one enumeration and the memory of one instance. */
long wsmd__enum_estimate(const struct cim_class *const *classes, size_t n,
                         const struct cim_ctx *ctx, struct wql_query *wql,
                         const struct wsm_pair *sel, size_t nsel, enum wsm_err *err)
{
    long count = 0;
    *err = WSM_OK;
    for (size_t k = 0; k < n; k++) {
        const struct cim_class *cls = classes[k];
        void *it = NULL;
        if (!cls->open)
            continue;
        enum wsm_err e = cls->open(ctx, &it);
        if (e) {
            *err = e;
            return -1;
        }
        while (it) {
            struct wsm_arena a;
            wsm__arena_init(&a);
            struct cim_instance inst = {.cls = cls, .arena = &a};
            inst.v = wsm__arena_alloc(&a, (cls->nprops ? cls->nprops : 1) * sizeof(*inst.v));
            if (!inst.v) {
                wsm__arena_free(&a);
                e = WSM_ERR_NOMEM;
                break;
            }
            memset(inst.v, 0, cls->nprops * sizeof(*inst.v));
            e = cls->next(it, &inst);
            if (!e && (!wql || wql_match(wql, &inst)) &&
                (!nsel || wsmd__cim_keys_match(&inst, sel, nsel)))
                count++;
            wsm__arena_free(&a);
            if (e)
                break;
        }
        if (it && cls->close)
            cls->close(it);
        if (e && e != WSM_ERR_NOT_FOUND) {
            *err = e;
            return -1;
        }
    }
    return count;
}

enum wsm_err wsmd__reply_add_estimate(struct wsm_buf *out, long count)
{
    size_t tail = sizeof(BODY_OPEN) - 1;
    if (out->len < tail || memcmp(out->data + out->len - tail, BODY_OPEN, tail) != 0)
        return WSM_ERR_INTERNAL;
    out->len -= tail;
    /* Unknown (a sequence that is not a CIM class): nil, as DSP0226 has it. */
    if (count < 0)
        return wsm__buf_puts(out, "<w:TotalItemsCountEstimate xsi:nil=\"true\"/>" BODY_OPEN);
    return wsm__buf_printf(
        out, "<w:TotalItemsCountEstimate>%ld</w:TotalItemsCountEstimate>" BODY_OPEN, count);
}

enum wsm_err wsmd__enum_polymorphism(struct wsm_arena *a, xmlNodePtr enumerate)
{
    xmlNodePtr p = wsm__xml_child(enumerate, WSMD_NS_CIMBINDING, "PolymorphismMode");
    if (!p)
        return WSM_OK;
    const char *m = wsm__xml_text(a, p, 1);
    if (!m)
        return WSM_ERR_NOMEM;
    /* Each class of wsmd is a leaf of its hierarchy as served: an
     * enumeration gives the instances of the class named and only its
     * properties, which is what every mode asks for (IncludeSubClass-
     * Properties adds the properties of subclasses, and there are none;
     * ExcludeSubClassProperties keeps the base's; None, winrm's -shallow,
     * excludes instances of subclasses). Another value is refused. */
    if (!strcmp(m, "IncludeSubClassProperties") || !strcmp(m, "ExcludeSubClassProperties") ||
        !strcmp(m, "None"))
        return WSM_OK;
    return WSM_ERR_INVALID_OPTIONS;
}

/* ---- association instances (DSP0227 8.2, AssociationInstances) ------- */

enum wsm_err wsmd__epr_inner(struct wsm_buf *o, const struct cim_instance *inst,
                             const char *uri_prefix)
{
    static const char open[] = "<a:EndpointReference>", close[] = "</a:EndpointReference>";
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    enum wsm_err e = wsmd__write_epr(&b, inst, uri_prefix);
    size_t lo = sizeof(open) - 1, lc = sizeof(close) - 1;
    if (!e && (b.len < lo + lc || memcmp(b.data, open, lo) != 0 ||
               memcmp(b.data + b.len - lc, close, lc) != 0))
        e = WSM_ERR_INTERNAL;
    if (!e)
        e = wsm__buf_add(o, b.data + lo, b.len - lo - lc);
    wsm__buf_free(&b);
    return e;
}

/* The association object: its two references, in the order of the
 * class (the left role first), each an EndpointReference's content as
 * DSP0227 writes a reference property. */
enum wsm_err wsmd__write_assoc_instance(struct wsm_buf *o, const char *assoc, const char *lrole,
                                        const char *left, const char *rrole, const char *right)
{
    return wsm__buf_printf(o,
                           "<p:%s xmlns:p=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/%s\">"
                           "<p:%s>%s</p:%s><p:%s>%s</p:%s></p:%s>",
                           assoc, assoc, lrole, left, lrole, rrole, right, rrole, assoc);
}
