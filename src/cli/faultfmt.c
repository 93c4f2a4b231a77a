/* A failed operation printed whole (winrm): the WSManFault block as
 * Windows prints it, plus what other servers put in their faults -- the
 * subcode, w:FaultDetail, a CIM error (OMI's OMI_Error) -- and, in the XML
 * formats, the reply itself as it came. */
#include "faultfmt.h"
#include "jsontype.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define NS_FAULT "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

void cli_fault_message(const struct wsm_fault *flt, const char *fallback, char *out, size_t n)
{
    const char *reason = flt && flt->reason ? flt->reason : NULL;
    const char *cim = flt ? flt->cim_message : NULL;
    if (!reason && flt && flt->message)
        reason = flt->message;
    if (reason && cim && !strstr(reason, cim))
        snprintf(out, n, "%s: %s", reason, cim);
    else if (reason)
        snprintf(out, n, "%s", reason);
    else if (cim)
        snprintf(out, n, "%s", cim);
    else
        snprintf(out, n, "%s", fallback ? fallback : "");
}

static void text_parts(FILE *f, const struct wsm_fault *flt)
{
    if (flt->subcode)
        fprintf(f, "    Subcode = %s\n", flt->subcode);
    if (flt->fault_detail)
        fprintf(f, "    FaultDetail = %s\n", flt->fault_detail);
    if (flt->cim_class || flt->cim_status >= 0) {
        fprintf(f, "    CIMError\n");
        if (flt->cim_class)
            fprintf(f, "        Class = %s\n", flt->cim_class);
        if (flt->cim_status >= 0)
            fprintf(f, "        CIMStatusCode = %ld%s%s%s\n", flt->cim_status,
                    flt->cim_status_name ? " (" : "",
                    flt->cim_status_name ? flt->cim_status_name : "",
                    flt->cim_status_name ? ")" : "");
        if (flt->cim_message)
            fprintf(f, "        Message = %s\n", flt->cim_message);
    }
}

static void json_member(FILE *f, const char *indent, const char *name, const char *value)
{
    if (!value)
        return;
    fprintf(f, ",\n%s\"%s\": ", indent, name);
    cli_json_str(f, value);
}

static void json_parts(FILE *f, const struct wsm_fault *flt)
{
    json_member(f, "    ", "Subcode", flt->subcode);
    json_member(f, "    ", "FaultDetail", flt->fault_detail);
    if (flt->cim_class || flt->cim_status >= 0) {
        fputs(",\n    \"CIMError\": {", f);
        const char *sep = "\n";
        if (flt->cim_class) {
            fprintf(f, "%s      \"Class\": ", sep);
            cli_json_str(f, flt->cim_class);
            sep = ",\n";
        }
        if (flt->cim_status >= 0) {
            fprintf(f, "%s      \"CIMStatusCode\": %ld", sep, flt->cim_status);
            sep = ",\n";
        }
        if (flt->cim_status_name) {
            fprintf(f, "%s      \"CIMStatusCodeName\": ", sep);
            cli_json_str(f, flt->cim_status_name);
        }
        if (flt->cim_message) {
            fprintf(f, "%s      \"Message\": ", sep);
            cli_json_str(f, flt->cim_message);
        }
        fputs("\n    }", f);
    }
}

static xmlNodePtr find_wsmanfault(xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (n->ns && xmlStrcmp(n->ns->href, BAD_CAST NS_FAULT) == 0 &&
            xmlStrcmp(n->name, BAD_CAST "WSManFault") == 0)
            return n;
        xmlNodePtr c = find_wsmanfault(n->children);
        if (c)
            return c;
    }
    return NULL;
}

/* Windows prints a fault's f:WSManFault element alone; a reply without one
 * (OMI, OpenWSMAN) is printed whole, since its parts are elsewhere. 0 when
 * printed. */
static int print_wsmanfault(FILE *f, const char *reply, int pretty)
{
    xmlDocPtr d = xmlReadMemory(reply, (int)strlen(reply), NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                    (pretty ? XML_PARSE_NOBLANKS : 0));
    xmlNodePtr n = d ? find_wsmanfault(xmlDocGetRootElement(d)) : NULL;
    xmlBufferPtr b = n ? xmlBufferCreate() : NULL;
    int rc = -1;
    if (b && xmlNodeDump(b, d, n, 0, pretty) >= 0) {
        fputs((const char *)xmlBufferContent(b), f);
        fputc('\n', f);
        rc = 0;
    }
    if (b)
        xmlBufferFree(b);
    xmlFreeDoc(d);
    return rc;
}

void cli_print_failure(FILE *f, enum cli_format fmt, unsigned long code, const char *message,
                       const struct wsm_fault *flt, const char *reply)
{
    unsigned long hr = code < 0x10000 ? 0x80070000UL | code : code & 0xffffffffUL;
    long number = hr >= 0x80000000UL ? (long)hr - 0x100000000L : (long)hr;
    switch (fmt) {
    case FMT_TEXT:
        fprintf(f, "WSManFault\n    Message = %s\n", message);
        if (flt)
            text_parts(f, flt);
        if (!flt && reply)
            fprintf(f, "    Reply = %s\n", reply);
        break;
    case FMT_XML:
    case FMT_PRETTY:
        /* The WSManFault element of the reply, else the reply as it came (it
         * holds the whole fault, whoever wrote it); without one, a WSManFault
         * of our own. */
        if (reply && print_wsmanfault(f, reply, fmt == FMT_PRETTY) == 0) {
            /* printed as Windows does */
        } else if (reply && (fmt == FMT_XML || cli_print_item(f, reply, FMT_PRETTY) != 0)) {
            fputs(reply, f);
            if (!*reply || reply[strlen(reply) - 1] != '\n')
                fputc('\n', f);
        } else if (!reply) {
            fprintf(f, "<f:WSManFault xmlns:f=\"" NS_FAULT "\" Code=\"%lu\">%s<f:Message>", code,
                    fmt == FMT_PRETTY ? "\n  " : "");
            cli_xml_text(f, message);
            fprintf(f, "</f:Message>%s</f:WSManFault>\n", fmt == FMT_PRETTY ? "\n" : "");
        }
        break;
    case FMT_JSON:
        fprintf(f, "{\n  \"WSManFault\": {\n    \"@Code\": \"%lu\",\n    \"Message\": ", code);
        cli_json_str(f, message);
        if (flt)
            json_parts(f, flt);
        if (!flt && reply)
            json_member(f, "    ", "Reply", reply);
        fputs("\n  }\n}\n", f);
        break;
    }
    fprintf(f, "\nError number:  %ld 0x%08lX\n%s\n", number, hr, message);
}
