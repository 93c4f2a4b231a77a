/* Raw IPMI as Windows' root/wmi Microsoft_IPMI (docs/internals/ipmi.md,
 * "Raw access"): one instance per configured BMC (InstanceName: its NAME
 * in IpmiHosts), and RequestResponse, which sends any request to the BMC
 * and gives back its completion code and data. It can do whatever the
 * BMC can (change users, flash, power), so the dispatcher asks for the
 * `ipmi` right (Allow lines), which `invoke` does not give. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim.h"
#include "ipmi.h"
#include "server.h" /* wsmd__log */

static const struct cim_prop raw_props[] = {
    {"InstanceName", CIM_STRING, CIM_KEY},
    {"Active", CIM_BOOLEAN, 0},
    {"BMCAddress", CIM_UINT8, 0},
};

static const struct cim_prop rr_in[] = {
    {"Command", CIM_UINT8, 0},          {"Lun", CIM_UINT8, 0},
    {"NetworkFunction", CIM_UINT8, 0},  {"RequestData", CIM_UINT8, CIM_ARRAY},
    {"RequestDataSize", CIM_UINT32, 0}, {"ResponderAddress", CIM_UINT8, 0},
};
static const struct cim_prop rr_out[] = {
    {"CompletionCode", CIM_UINT8, 0},
    {"ResponseData", CIM_UINT8, CIM_ARRAY},
    {"ResponseDataSize", CIM_UINT32, 0},
};
static const struct cim_method raw_methods[] = {
    {"RequestResponse", 0, rr_in, 6, rr_out, 3},
};

/* LIST: the configured BMCs, one instance each. */
static enum wsm_err raw_open(const struct cim_ctx *ctx, void **out)
{
    (void)ctx;
    struct ipmi_reply *r = calloc(1, sizeof(*r) + sizeof(struct ipmi_rd));
    if (!r)
        return WSM_ERR_NOMEM;
    enum wsm_err e = wsmd__ipmi_call(IPMI_OP_LIST, NULL, NULL, NULL, r);
    if (e == WSM_ERR_NOT_FOUND) {
        cim_fault_message_take(NULL); /* no IpmiHosts: no instance */
        free(r);
        *out = NULL;
        return WSM_OK;
    }
    if (e) {
        free(r);
        return e;
    }
    ipmi_rd_init((struct ipmi_rd *)(r + 1), r->f.body, r->f.blen);
    *out = r;
    return WSM_OK;
}

static enum wsm_err raw_next(void *p, struct cim_instance *inst)
{
    struct ipmi_reply *r = p;
    if (!r)
        return WSM_ERR_NOT_FOUND;
    struct ipmi_field f;
    for (;;) {
        int k = ipmi_rd_next((struct ipmi_rd *)(r + 1), &f);
        if (k < 0)
            return WSM_ERR_INTERNAL;
        if (k == 0)
            return WSM_ERR_NOT_FOUND;
        struct ipmi_bmc b;
        if (f.tag != IPMI_T_RECORD)
            continue;
        if (ipmi_bmc_decode(f.v, f.len, &b) != 0)
            return WSM_ERR_INTERNAL;
        cim_set_str(inst, "InstanceName", b.name);
        cim_set_bool(inst, "Active", b.state != IPMI_BMC_DOWN);
        cim_set_u64(inst, "BMCAddress", 0x20); /* the BMC's IPMB address */
        return WSM_OK;
    }
}

static void raw_close(void *p)
{
    if (p)
        wsmd__ipmi_reply_free(p);
    free(p);
}

static void raw_fields(struct ipmi_wbuf *w, const void *arg)
{
    ipmi_raw_encode(w, arg, 1);
}

/* A decimal or 0x-prefixed byte: 0 and *v, or -1. */
static int byte_of(const char *s, unsigned *v)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long x = strtoul(s, &end, 0);
    if (*end || x > 0xff)
        return -1;
    *v = (unsigned)x;
    return 0;
}

static enum wsm_err raw_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                               const struct cim_instance *target, const struct wsm_pair *in,
                               size_t nin, struct cim_val *out, struct wsm_arena *a)
{
    const char *bmc = target ? cim_get(target, "InstanceName") : NULL;
    if (strcmp(m->name, "RequestResponse") != 0 || !bmc)
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    struct ipmi_raw q;
    memset(&q, 0, sizeof(q));
    unsigned v, have = 0;
    long size = -1;
    for (size_t i = 0; i < nin; i++) {
        const char *n = in[i].name;
        if (!strcasecmp(n, "RequestDataSize")) {
            char *end;
            size = strtol(in[i].value, &end, 10);
            if (*end || size < 0 || size > IPMI_RAW_MAX)
                return WSM_ERR_INVALID_REPRESENTATION;
            continue;
        }
        if (byte_of(in[i].value, &v) != 0)
            return WSM_ERR_INVALID_REPRESENTATION;
        if (!strcasecmp(n, "Command")) {
            q.cmd = (uint8_t)v;
            have |= 1;
        } else if (!strcasecmp(n, "NetworkFunction")) {
            q.netfn = (uint8_t)v;
            have |= 2;
        } else if (!strcasecmp(n, "Lun")) {
            q.lun = (uint8_t)v;
        } else if (!strcasecmp(n, "RequestData")) {
            if (q.n == IPMI_RAW_MAX)
                return WSM_ERR_INVALID_REPRESENTATION;
            q.data[q.n++] = (uint8_t)v;
        }
        /* ResponderAddress: the BMC itself (0x20) is the only responder. */
    }
    /* Windows' NetworkFunction is the request's NetFn (even); LUN 0-3. */
    if ((have & 3) != 3 || q.netfn > 0x3f || q.lun > 3 || (size >= 0 && size != q.n))
        return WSM_ERR_INVALID_REPRESENTATION;
    struct ipmi_reply r;
    enum wsm_err e = wsmd__ipmi_call(IPMI_OP_RAW, bmc, raw_fields, &q, &r);
    if (e)
        return e;
    struct ipmi_raw got;
    int bad = ipmi_raw_decode(r.f.body, r.f.blen, &got, 0);
    wsmd__ipmi_reply_free(&r);
    if (bad)
        return WSM_ERR_INTERNAL;
    wsmd__log("event=ipmi-raw user=%s bmc=%s netfn=%02x cmd=%02x cc=%02x",
              ctx && ctx->user ? ctx->user : "-", bmc, q.netfn, q.cmd, got.cc);
    char buf[16];
    snprintf(buf, sizeof(buf), "%u", got.cc);
    out[0].s = wsm__arena_strdup(a, buf);
    snprintf(buf, sizeof(buf), "%u", got.n);
    out[2].s = wsm__arena_strdup(a, buf);
    const char **items = got.n ? wsm__arena_alloc(a, got.n * sizeof(*items)) : NULL;
    for (size_t i = 0; items && i < got.n; i++) {
        snprintf(buf, sizeof(buf), "%u", got.data[i]);
        items[i] = wsm__arena_strdup(a, buf);
        if (!items[i])
            return WSM_ERR_NOMEM;
    }
    out[1].items = items;
    out[1].n = items ? got.n : 0;
    return out[0].s && out[2].s && (!got.n || items) ? WSM_OK : WSM_ERR_NOMEM;
}

static enum wsm_err raw_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                            struct cim_instance *inst)
{
    const char *name = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(keys[i].name, "InstanceName"))
            name = keys[i].value;
    void *p = NULL;
    enum wsm_err e = raw_open(ctx, &p);
    while (!e) {
        memset(inst->v, 0, inst->cls->nprops * sizeof(*inst->v));
        if ((e = raw_next(p, inst)))
            break;
        const char *got = cim_get(inst, "InstanceName");
        if (name && got && !strcmp(got, name))
            break;
    }
    raw_close(p);
    if (e == WSM_ERR_NOT_FOUND)
        cim_fault_message("no BMC named '%s' is configured (IpmiHosts)", name ? name : "");
    return e;
}

static const struct cim_class raw_class = {
    .name = "Microsoft_IPMI",
    .props = raw_props,
    .nprops = sizeof(raw_props) / sizeof(raw_props[0]),
    .methods = raw_methods,
    .nmethods = 1,
    .open = raw_open,
    .next = raw_next,
    .close = raw_close,
    .get = raw_get,
    .invoke = raw_invoke,
    .no_account = 1,
};

const struct cim_class *const cim_family_rootwmi[] = {&raw_class, NULL};
