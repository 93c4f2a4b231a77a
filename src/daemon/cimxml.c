/* CIM instances as XML (DSP0230): the class element, its properties,
 * endpoint references. */
#include <string.h>

#include "cimxml.h"
#include "ns.h"

#define NS_CIM "http://schemas.dmtf.org/wbem/wscim/1/common"

const char *wsmd__class_uri(const struct cim_class *c, const char *requested)
{
    /* Answer in the form asked for: a WMI-form request gets WMI URIs. */
    if (requested && strstr(requested, "/wbem/wsman/1/wmi/"))
        return cim_uri_prefix_wmi_for(c);
    if (cim_class_is_hardware(c))
        return cim_uri_prefix_wmi_for(c);
    if (strncmp(c->name, "Win32_", 6) == 0)
        return cim_uri_prefix_wmi();
    return cim_uri_prefix_dmtf();
}

static enum wsm_err put_value(struct wsm_buf *o, const char *name, enum cim_type t, const char *v)
{
    enum wsm_err e = wsm__buf_printf(o, "<p:%s>", name);
    if (e)
        return e;
    if (t == CIM_DATETIME) {
        const char *el = v[0] == 'P' ? "Interval" : "Datetime";
        e = wsm__buf_printf(o, "<cim:%s>", el);
        if (!e)
            e = wsm__buf_xml(o, v);
        if (!e)
            e = wsm__buf_printf(o, "</cim:%s>", el);
    } else {
        e = wsm__buf_xml(o, v);
    }
    return e ? e : wsm__buf_printf(o, "</p:%s>", name);
}

enum wsm_err wsmd__write_instance(struct wsm_buf *o, const struct cim_instance *inst,
                                  const char *uri_prefix, int (*selected)(void *, size_t),
                                  void *sel_arg)
{
    return wsmd__write_instance_ns(o, inst, uri_prefix, selected, sel_arg, 0);
}

enum wsm_err wsmd__write_instance_ns(struct wsm_buf *o, const struct cim_instance *inst,
                                     const char *uri_prefix, int (*selected)(void *, size_t),
                                     void *sel_arg, int xsi_cim_in_scope)
{
    const struct cim_class *c = inst->cls;
    enum wsm_err e =
        xsi_cim_in_scope
            ? wsm__buf_printf(o, "<p:%s xmlns:p=\"%s%s\">", c->name, uri_prefix, c->name)
            : wsm__buf_printf(o,
                              "<p:%s xmlns:p=\"%s%s\" xmlns:xsi=\"" WSM_NS_XSI
                              "\" xmlns:cim=\"" NS_CIM "\">",
                              c->name, uri_prefix, c->name);
    for (size_t i = 0; !e && i < c->nprops; i++) {
        const struct cim_prop *p = &c->props[i];
        const struct cim_val *v = &inst->v[i];
        if (selected && !(p->flags & CIM_KEY) && !selected(sel_arg, i))
            continue;
        if (p->flags & CIM_ARRAY) {
            if (!v->items) {
                e = wsm__buf_printf(o, "<p:%s xsi:nil=\"true\"/>", p->name);
                continue;
            }
            for (size_t k = 0; !e && k < v->n; k++)
                e = put_value(o, p->name, p->type, v->items[k]);
        } else if (!v->s) {
            e = wsm__buf_printf(o, "<p:%s xsi:nil=\"true\"/>", p->name);
        } else {
            e = put_value(o, p->name, p->type, v->s);
        }
    }
    return e ? e : wsm__buf_printf(o, "</p:%s>", c->name);
}

enum wsm_err wsmd__write_epr(struct wsm_buf *o, const struct cim_instance *inst,
                             const char *uri_prefix)
{
    const struct cim_class *c = inst->cls;
    enum wsm_err e = wsm__buf_printf(o,
                                     "<a:EndpointReference><a:Address>" WSM_ADDR_ANONYMOUS
                                     "</a:Address><a:ReferenceParameters><w:ResourceURI>%s%s"
                                     "</w:ResourceURI><w:SelectorSet>",
                                     uri_prefix, c->name);
    for (size_t i = 0; !e && i < c->nprops; i++) {
        if (!(c->props[i].flags & CIM_KEY))
            continue;
        e = wsm__buf_printf(o, "<w:Selector Name=\"%s\">", c->props[i].name);
        if (!e)
            e = wsm__buf_xml(o, inst->v[i].s ? inst->v[i].s : "");
        if (!e)
            e = wsm__buf_puts(o, "</w:Selector>");
    }
    /* A DMTF URI names root/cimv2's class unless told otherwise: the BMCs'
     * CIM_ComputerSystem is root/hardware's (ipmisys.c). */
    const char *ns = cim_class_namespace(c);
    if (!e && strcmp(ns, "root/cimv2") != 0 && !strcmp(uri_prefix, cim_uri_prefix_dmtf()))
        e = wsm__buf_printf(o, "<w:Selector Name=\"__cimnamespace\">%s</w:Selector>", ns);
    return e ? e
             : wsm__buf_puts(o, "</w:SelectorSet></a:ReferenceParameters></a:EndpointReference>");
}
