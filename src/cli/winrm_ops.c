/* winrm's operations on a connected session: get, set, create, delete,
 * invoke, enumerate, identify and subscribe (winrm_sub.c) as libwsm calls,
 * their results printed in the chosen -format:, and their failures
 * printed as winrm.cmd prints them (report: the fault's code and text,
 * the codes below for what is no fault). winrm.c connects and calls
 * wsmd__winrm_run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "faultfmt.h"
#include "format.h"
#include "winrm_priv.h"
#include "winrm_sub.h"
#include "wsm/wsm.h"

#define E_FAIL 0x80004005UL
#define ERROR_WSMAN_CANNOT_CONNECT 0x80338012UL
#define ERROR_ACCESS_DENIED 5UL

/* Prints the failure of an operation as winrm does, with all that the
 * fault said and, for -format:xml and pretty, the reply itself; returns 1. */
static int report(wsm_session *s, enum wsm_err e, enum cli_format fmt)
{
    char msg[2048];
    const char *detail = wsm_session_error(s);
    unsigned long code = wsm_session_fault_code(s);
    const struct wsm_fault *flt = e == WSM_ERR_FAULT ? wsm_session_fault(s) : NULL;
    /* Not for a call refused before anything was sent. */
    const char *reply =
        e == WSM_ERR_INVALID_ARG || e == WSM_ERR_NOMEM ? NULL : wsm_session_reply(s, NULL);
    if (e == WSM_ERR_FAULT) {
        /* The library writes "fault CODE: TEXT". */
        const char *colon = strncmp(detail, "fault ", 6) == 0 ? strstr(detail, ": ") : NULL;
        cli_fault_message(flt, colon ? colon + 2 : detail, msg, sizeof(msg));
        if (!code)
            code = E_FAIL;
    } else if (e == WSM_ERR_AUTH) {
        code = ERROR_ACCESS_DENIED;
        /* What the client found (no ticket, a scheme the server does not
         * offer...) when it is not just the server's refusal. */
        int own = *detail && ((!strstr(detail, "HTTP 401") && strncmp(detail, "HTTP ", 5)) ||
                              strstr(detail, "does not offer"));
        snprintf(msg, sizeof(msg), "Access is denied.%s%s%s", own ? " (" : "", own ? detail : "",
                 own ? ")" : "");
    } else if (e == WSM_ERR_HTTP && strstr(detail, "dropped the encrypted request")) {
        /* Authenticated, then the connection closed on the sealed
         * request: not a service that is down (wsm__conn_gss_post's text). */
        code = ERROR_WSMAN_CANNOT_CONNECT;
        snprintf(msg, sizeof(msg), "%s", detail);
    } else if (e == WSM_ERR_HTTP && strncmp(detail, "HTTP ", 5) != 0) {
        code = ERROR_WSMAN_CANNOT_CONNECT;
        snprintf(msg, sizeof(msg),
                 "The client cannot connect to the destination specified in the request. Verify "
                 "that the service on the destination is running and is accepting requests. (%s)",
                 detail);
    } else {
        code = E_FAIL;
        snprintf(msg, sizeof(msg), "%s%s%s", wsm_strerror(e), *detail ? ": " : "", detail);
    }
    fflush(stdout);
    cli_print_failure(stderr, fmt, code, msg, flt, reply);
    return 1;
}

int wsmd__winrm_print_result(char *xml, enum cli_format fmt)
{
    if (xml && cli_print_item(stdout, xml, fmt) != 0) {
        fprintf(stderr, "winrm: Unable to reformat message. Raw, unformatted, message:\n%s\n", xml);
        free(xml);
        return 1;
    }
    free(xml);
    return 0;
}

static int do_identify(wsm_session *s, const struct cmd *c)
{
    struct wsm_identity id;
    char *xml = NULL;
    enum wsm_err e = wsm_identify(s, &id, &xml);
    if (e)
        return report(s, e, c->fmt);
    int rc = cli_print(stdout, xml, c->fmt) == 0 ? 0 : 1;
    wsm_identity_clear(&id);
    free(xml);
    return rc;
}

static int do_enumerate(wsm_session *s, const struct cmd *c, const char *uri, const struct kv *sel,
                        const struct kv *opt)
{
    struct wsm_enum_opts o = {
        .selectors = sel->v, .nselectors = sel->n, .options = opt->v, .noptions = opt->n};
    struct kv fsel = {0};
    char *assoc = NULL;
    const char *dialect = c->dialect;
    if (dialect && !strcasecmp(dialect, "selector"))
        dialect = WSM_DIALECT_SELECTOR;
    else if (dialect && !strcasecmp(dialect, "wql"))
        dialect = WSM_DIALECT_WQL;
    else if (dialect && !strcasecmp(dialect, "association"))
        dialect = WSM_DIALECT_ASSOCIATION;
    if (c->associations && !dialect)
        dialect = WSM_DIALECT_ASSOCIATION; /* winrm wants -dialect:association too */
    int is_assoc = dialect && !strcasecmp(dialect, WSM_DIALECT_ASSOCIATION);
    if (c->associations && !is_assoc)
        return wsmd__winrm_usage_error("%s",
                                       "-associations is not a valid option for the given dialect");
    if (dialect && !c->have_filter)
        return wsmd__winrm_usage_error("%s", "-filter parameter is required for the given dialect");
    if (c->have_filter && !*c->filter)
        return wsmd__winrm_usage_error("%s", "Argument's value is not provided: filter");
    if (c->return_type) {
        if (!strcasecmp(c->return_type, "object"))
            o.mode = WSM_ENUM_OBJECT;
        else if (!strcasecmp(c->return_type, "epr"))
            o.mode = WSM_ENUM_EPR;
        else if (!strcasecmp(c->return_type, "objectandepr"))
            o.mode = WSM_ENUM_OBJECT_AND_EPR;
        else
            return wsmd__winrm_usage_error("-returnType:%s is not a valid option", c->return_type);
    }
    if (dialect && !strcasecmp(dialect, WSM_DIALECT_SELECTOR)) {
        if (wsmd__winrm_parse_hash(c->filter, &fsel) != 0)
            return 2;
        for (size_t i = 0; i < fsel.n; i++) {
            if (!fsel.v[i].value) {
                wsmd__winrm_kv_free(&fsel);
                return wsmd__winrm_usage_error("$null is no selector value: %s", fsel.v[i].name);
            }
        }
        o.filter_selectors = fsel.v;
        o.nfilter_selectors = fsel.n;
        o.dialect = WSM_DIALECT_SELECTOR;
    } else if (is_assoc) {
        if (!(assoc = wsmd__winrm_association_filter(c->filter, c->associations, uri)))
            return 2;
        o.filter = assoc;
        o.dialect = WSM_DIALECT_ASSOCIATION;
    } else if (c->have_filter) {
        o.filter = c->filter;
        o.dialect = dialect; /* NULL: WQL */
    }
    o.max_elements = c->max_elements;

    wsm_enum *en = NULL;
    enum wsm_err e = wsm_enumerate(s, uri, &o, &en);
    wsmd__winrm_kv_free(&fsel);
    free(assoc);
    if (e == WSM_ERR_INVALID_ARG)
        return wsmd__winrm_usage_error("%s", wsm_session_error(s));
    if (e)
        return report(s, e, c->fmt);
    cli_results_begin(stdout, c->fmt);
    size_t i = 0;
    char *item = NULL;
    int rc = 0;
    while ((e = wsm_enum_next(en, &item)) == WSM_OK) {
        if (cli_results_item(stdout, item, c->fmt, i++) != 0) {
            fprintf(stderr, "winrm: Unable to reformat message. Raw, unformatted, message:\n%s\n",
                    item);
            rc = 1;
        }
        free(item);
    }
    cli_results_end(stdout, c->fmt);
    if (e != WSM_ERR_NOT_FOUND)
        rc = report(s, e, c->fmt);
    wsm_enum_free(en);
    return rc;
}

/* The last segment of a resource URI: the root element winrm writes for
 * create (as winrm, it must match the resource's element name). */
static const char *last_segment(const char *uri)
{
    const char *slash = strrchr(uri, '/');
    return slash ? slash + 1 : uri;
}

int wsmd__winrm_run(wsm_session *s, const struct cmd *c)
{
    char uri[MAX_URI];
    struct kv sel = {0}, opt = {0}, hash = {0};
    char *input = NULL, *xml = NULL, *body = NULL;
    enum wsm_err e = WSM_OK;
    int rc = 0;

    if (c->verb == V_IDENTIFY)
        return do_identify(s, c);
    if (wsmd__winrm_parse_resource(c->resource, uri, sizeof(uri), &sel) != 0)
        return 2;
    if (c->options && wsmd__winrm_parse_hash(c->options, &opt) != 0) {
        rc = 2;
        goto out;
    }
    if (c->hash && wsmd__winrm_parse_hash(c->hash, &hash) != 0) {
        rc = 2;
        goto out;
    }
    if (c->file && !(input = wsmd__winrm_read_file(c->file))) {
        rc = 1;
        goto out;
    }
    switch (c->verb) {
    case V_GET:
        e = wsm_get(s, uri, sel.v, sel.n, opt.v, opt.n, c->fragment, &xml);
        break;
    case V_DELETE:
        e = wsm_delete(s, uri, sel.v, sel.n, opt.v, opt.n);
        break;
    case V_SET:
        if (!input && !hash.n) {
            fprintf(stderr, "winrm: Error: No input provided through \"@{...}\" or \"-file:\" "
                            "commandline parameters.\n");
            rc = 2;
            goto out;
        }
        if (!input) {
            /* As winrm: Get, change the named properties, Put it back. */
            char *cur = NULL;
            e = wsm_get(s, uri, sel.v, sel.n, opt.v, opt.n, c->fragment, &cur);
            if (e)
                break;
            int bad = wsmd__winrm_apply_hash(cur, &hash, &body);
            free(cur);
            if (bad) {
                rc = 1;
                goto out;
            }
        }
        e = wsm_put(s, uri, sel.v, sel.n, opt.v, opt.n, c->fragment, input ? input : body, &xml);
        break;
    case V_CREATE:
        if (!input && !(body = wsmd__winrm_element_from_hash(uri, last_segment(uri), &hash))) {
            rc = 1;
            goto out;
        }
        e = wsm_create(s, uri, sel.v, sel.n, opt.v, opt.n, input ? input : body, &xml);
        break;
    case V_INVOKE: {
        /* wsm_param has wsm_selector's layout; copy to be type-correct. */
        struct wsm_param *params = hash.n ? calloc(hash.n, sizeof(*params)) : NULL;
        if (hash.n && !params) {
            rc = 1;
            goto out;
        }
        for (size_t i = 0; i < hash.n; i++) {
            params[i].name = hash.v[i].name;
            params[i].value = hash.v[i].value;
        }
        e = wsm_invoke(s, uri, c->method, sel.v, sel.n, opt.v, opt.n, input, params, hash.n, &xml);
        free(params);
        break;
    }
    case V_ENUMERATE:
        rc = do_enumerate(s, c, uri, &sel, &opt);
        goto out;
    case V_SUBSCRIBE: {
        struct winrm_sub_args sa = {.uri = uri,
                                    .filter = c->filter,
                                    .bookmark_file = c->bookmark,
                                    .content_format = c->content_format,
                                    .count = c->count,
                                    .max_elements = c->max_elements,
                                    .read_existing = c->read_existing,
                                    .follow = c->follow,
                                    .fmt = c->fmt,
                                    .report = report,
                                    /* How long a Pull waits for the first event: without -follow,
                                     * the quiet time that ends the command; with it, how soon an
                                     * interrupt is seen (an idle Pull every 2 s costs little). */
                                    .wait_ms = c->follow ? 2000 : 5000};
        /* Within -timeout (the HTTP exchange's limit too). */
        long t = c->timeout ? strtol(c->timeout, NULL, 10) : 0;
        if (t > 1 && t / 2 < sa.wait_ms)
            sa.wait_ms = t / 2;
        rc = winrm_subscribe(s, &sa);
        goto out;
    }
    default:
        break;
    }
    if (e == WSM_ERR_INVALID_ARG) /* the library refused our input */
        rc = wsmd__winrm_usage_error("%s", wsm_session_error(s));
    else if (e)
        rc = report(s, e, c->fmt);
    else
        rc = wsmd__winrm_print_result(xml, c->fmt);
    xml = NULL;
out:
    free(xml);
    free(body);
    free(input);
    wsmd__winrm_kv_free(&sel);
    wsmd__winrm_kv_free(&opt);
    wsmd__winrm_kv_free(&hash);
    return rc;
}
