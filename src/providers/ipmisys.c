/* The BMC-managed systems as CIM classes (docs/internals/ipmi.md, "The
 * managed systems"): one ComputerSystem per configured BMC, named by its
 * NAME in IpmiHosts (the SystemName every sensor and log of that BMC
 * carries), its power state from Get Chassis Status, and
 * RequestStateChange through Chassis Control. Windows' form is
 * root/hardware's ComputerSystem; the DMTF form is CIM_ComputerSystem in
 * the root/hardware namespace (__cimnamespace=root/hardware), since
 * root/cimv2's CIM_ComputerSystem is the host wsmd runs on.
 *
 * Also Windows' root/wmi Microsoft_IPMI (raw requests): one instance per
 * BMC, RequestResponse for users with the ipmi right (dispatch.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim.h"
#include "ipmi.h"
#include "server.h" /* wsmd__log */

static const struct cim_prop cs_props[] = {
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, CIM_KEY},
    {"NameFormat", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"Dedicated", CIM_UINT16, CIM_ARRAY},
    {"EnabledState", CIM_UINT16, 0},
    {"RequestedState", CIM_UINT16, 0},
    {"PowerState", CIM_UINT16, 0},
    {"HealthState", CIM_UINT16, 0},
    {"OperationalStatus", CIM_UINT16, CIM_ARRAY},
    {"IPMI_PowerOverload", CIM_BOOLEAN, 0},
    {"IPMI_PowerInterlock", CIM_BOOLEAN, 0},
    {"IPMI_PowerFault", CIM_BOOLEAN, 0},
    {"IPMI_PowerControlFault", CIM_BOOLEAN, 0},
    {"IPMI_PowerRestorePolicy", CIM_UINT8, 0},
    {"IPMI_LastPowerEvent", CIM_UINT8, 0},
    {"IPMI_ChassisIntrusion", CIM_BOOLEAN, 0},
    {"IPMI_FrontPanelLockout", CIM_BOOLEAN, 0},
    {"IPMI_DriveFault", CIM_BOOLEAN, 0},
    {"IPMI_CoolingFault", CIM_BOOLEAN, 0},
};

static const struct cim_prop rsc_in[] = {
    {"RequestedState", CIM_UINT16, 0},
    {"TimeoutPeriod", CIM_DATETIME, 0},
};
static const struct cim_prop rv_out[] = {{"ReturnValue", CIM_UINT32, 0}};
/* CIM_ComputerSystem.SetPowerState(PowerState, Time): Windows' class
 * has it beside RequestStateChange. */
static const struct cim_prop sps_in[] = {
    {"PowerState", CIM_UINT32, 0},
    {"Time", CIM_DATETIME, 0},
};
static const struct cim_method cs_methods[] = {
    {"RequestStateChange", 0, rsc_in, 2, rv_out, 1},
    {"SetPowerState", 0, sps_in, 2, rv_out, 1},
};

/* RequestStateChange's ReturnValue (CIM_EnabledLogicalElement). */
enum {
    RV_OK = 0,
    RV_NOT_SUPPORTED = 1,
    RV_FAILED = 4,
    RV_INVALID_PARAMETER = 5,
    RV_INVALID_TRANSITION = 4097,
};

static void fill_cs(struct cim_instance *inst, const char *bmc, const struct ipmi_chassis *c,
                    int wmi)
{
    cim_set_str(inst, "CreationClassName", wmi ? "ComputerSystem" : "CIM_ComputerSystem");
    cim_set_str(inst, "Name", bmc);
    cim_set_str(inst, "NameFormat", "Other"); /* a name of wsmd's IpmiHosts */
    cim_set_str(inst, "ElementName", bmc);
    cim_set_str(inst, "Caption", bmc);
    cim_set_fmt(inst, "Description", "The system managed by the BMC %s (IPMI)", bmc);
    const char *ded[] = {"0"}; /* Not Dedicated: a server */
    cim_set_strv(inst, "Dedicated", ded, 1);
    int on = c->power & 1;
    /* EnabledState follows the power (DSP1004: Enabled when on, Disabled
     * when off); PowerState uses CIM_AssociatedPowerManagementService's
     * numbering: 2 On, 8 Off - Soft (IPMI does not tell a hard off). */
    cim_set_u64(inst, "EnabledState", on ? 2 : 3);
    cim_set_u64(inst, "RequestedState", 12); /* Not Applicable: no request is pending */
    cim_set_u64(inst, "PowerState", on ? 2 : 8);
    /* A power fault or a failed control is critical; a drive or cooling
     * fault, an overload or an interlock degrade. */
    unsigned hs = 5;
    if (c->power & (1u << 3 | 1u << 4))
        hs = 25;
    else if ((c->power & (1u << 1 | 1u << 2)) || (c->misc & (1u << 2 | 1u << 3)))
        hs = 10;
    cim_set_u64(inst, "HealthState", hs);
    const char *os[] = {hs == 5 ? "2" : hs == 10 ? "3" : "6"};
    cim_set_strv(inst, "OperationalStatus", os, 1);
    cim_set_bool(inst, "IPMI_PowerOverload", c->power & 2);
    cim_set_bool(inst, "IPMI_PowerInterlock", c->power & 4);
    cim_set_bool(inst, "IPMI_PowerFault", c->power & 8);
    cim_set_bool(inst, "IPMI_PowerControlFault", c->power & 16);
    cim_set_u64(inst, "IPMI_PowerRestorePolicy", (c->power >> 5) & 3);
    cim_set_u64(inst, "IPMI_LastPowerEvent", c->last_event);
    cim_set_bool(inst, "IPMI_ChassisIntrusion", c->misc & 1);
    cim_set_bool(inst, "IPMI_FrontPanelLockout", c->misc & 2);
    cim_set_bool(inst, "IPMI_DriveFault", c->misc & 4);
    cim_set_bool(inst, "IPMI_CoolingFault", c->misc & 8);
}

/* The scope a ComputerSystem enumeration takes: its own key (Name), or
 * SystemName as the other IPMI classes do. */
static const char *scope_name(const struct cim_ctx *ctx)
{
    for (size_t i = 0; ctx && i < ctx->nscope; i++)
        if (!strcasecmp(ctx->scope[i].name, "Name") ||
            !strcasecmp(ctx->scope[i].name, "SystemName"))
            return ctx->scope[i].value;
    return NULL;
}

static enum wsm_err open_cs(const struct cim_ctx *ctx, void **out, int wmi, const char *only)
{
    return wsmd__ipmi_walk_open(ctx, IPMI_OP_CHASSIS_STATUS, 0, wmi, only ? only : scope_name(ctx),
                                (struct ipmi_walk **)out);
}

static enum wsm_err next_cs(void *p, struct cim_instance *inst)
{
    struct ipmi_walk *w = p;
    if (!w)
        return WSM_ERR_NOT_FOUND;
    enum wsm_err e = wsmd__ipmi_walk_reply(w, inst->arena);
    if (e)
        return e;
    struct ipmi_chassis c;
    if (ipmi_chassis_decode(w->r.f.body, w->r.f.blen, &c) != 0)
        return WSM_ERR_INTERNAL;
    fill_cs(inst, w->bmc, &c, w->wmi);
    return WSM_OK;
}

static void close_cs(void *w)
{
    wsmd__ipmi_walk_free(w);
}

static int any(const struct cim_instance *inst, const void *arg)
{
    (void)inst;
    (void)arg;
    return 1;
}

static enum wsm_err get_cs(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                           struct cim_instance *inst, int wmi)
{
    const char *name = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(keys[i].name, "Name"))
            name = keys[i].value;
    if (!name)
        return WSM_ERR_NOT_FOUND;
    void *p = NULL;
    enum wsm_err e = open_cs(ctx, &p, wmi, name);
    if (e)
        return e;
    e = wsmd__ipmi_walk_find(p, inst, next_cs, any, NULL);
    wsmd__ipmi_walk_free(p);
    return e;
}

static void action_field(struct ipmi_wbuf *w, const void *arg)
{
    ipmiw_uint(w, IPMI_T_ACTION, *(const uint8_t *)arg, 1);
}

/* RequestedState -> Chassis Control's action (IPMI 2.0 s28.3), or -1 for
 * a state CIM defines that a chassis cannot be asked for. */
static int chassis_action(unsigned long state)
{
    switch (state) {
    case 2: /* Enabled */
        return 1;
    case 3: /* Disabled */
        return 0;
    case 4: /* Shut Down: the OS is asked (ACPI soft-off) */
        return 5;
    case 10: /* Reboot */
        return 2;
    case 11: /* Reset */
        return 3;
    default:
        return -1;
    }
}

/* SetPowerState's PowerState (CIM_ComputerSystem's numbering) -> Chassis
 * Control's action; -1 for the sleep states (2-4 power save, 7
 * hibernate), which chassis control cannot ask for, -2 for no state. */
static int power_action(unsigned long state)
{
    switch (state) {
    case 1: /* Full Power */
        return 1;
    case 5: /* Power Cycle */
        return 2;
    case 6: /* Power Off (hard) */
        return 0;
    case 8: /* Soft Off: the OS is asked (ACPI) */
        return 5;
    case 2:
    case 3:
    case 4:
    case 7:
        return -1;
    default:
        return -2;
    }
}

static const char *in_value(const struct wsm_pair *in, size_t nin, const char *name)
{
    for (size_t i = 0; i < nin; i++)
        if (!strcasecmp(in[i].name, name))
            return in[i].value;
    return NULL;
}

/* RequestStateChange and SetPowerState: both end in Chassis Control, and
 * share ReturnValue's 0, 1, 4, 5 (4097 is RequestStateChange's own). */
static enum wsm_err cs_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                              const struct cim_instance *target, const struct wsm_pair *in,
                              size_t nin, struct cim_val *out, struct wsm_arena *out_arena)
{
    const char *bmc = target ? cim_get(target, "Name") : NULL;
    int sps = !strcmp(m->name, "SetPowerState");
    if ((!sps && strcmp(m->name, "RequestStateChange") != 0) || !bmc)
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    const char *req = in_value(in, nin, sps ? "PowerState" : "RequestedState");
    const char *when = sps ? in_value(in, nin, "Time") : NULL;
    unsigned rv = RV_OK;
    char *end = NULL;
    unsigned long state = req ? strtoul(req, &end, 10) : 0;
    int action = -1;
    if (!req || !*req || *end || req[0] == '-' || state > (sps ? 0xffffffffUL : 0xffff))
        rv = RV_INVALID_PARAMETER;
    else if (sps && (action = power_action(state)) < 0)
        rv = action == -1 ? RV_NOT_SUPPORTED : RV_INVALID_PARAMETER;
    else if (sps && when && *when)
        rv = RV_NOT_SUPPORTED; /* a deferred change: IPMI acts now or never */
    else if (!sps && (action = chassis_action(state)) < 0)
        rv = state <= 11 ? RV_INVALID_TRANSITION : RV_INVALID_PARAMETER;
    if (rv == RV_OK) {
        uint8_t a = (uint8_t)action;
        struct ipmi_reply r;
        enum wsm_err e = wsmd__ipmi_call(IPMI_OP_CHASSIS_CONTROL, bmc, action_field, &a, &r);
        if (e)
            return e;
        struct ipmi_raw got;
        if (ipmi_raw_decode(r.f.body, r.f.blen, &got, 0) != 0) {
            wsmd__ipmi_reply_free(&r);
            return WSM_ERR_INTERNAL;
        }
        wsmd__ipmi_reply_free(&r);
        /* C1h: the BMC has no such command; CCh: it has no such action
         * (no chassis control wired, or soft-off unsupported). */
        rv = got.cc == 0 ? RV_OK : got.cc == 0xc1 || got.cc == 0xcc ? RV_NOT_SUPPORTED : RV_FAILED;
        wsmd__log("event=ipmi-power user=%s bmc=%s %s=%lu cc=%02x rv=%u",
                  ctx && ctx->user ? ctx->user : "-", bmc, sps ? "power_state" : "requested_state",
                  state, got.cc, rv);
    }
    char buf[16];
    snprintf(buf, sizeof(buf), "%u", rv);
    out[0].s = wsm__arena_strdup(out_arena, buf);
    return out[0].s ? WSM_OK : WSM_ERR_NOMEM;
}

#define CSCLASS(var, cname, wmi, storage)                                                          \
    static enum wsm_err var##_open(const struct cim_ctx *ctx, void **it)                           \
    {                                                                                              \
        return open_cs(ctx, it, wmi, NULL);                                                        \
    }                                                                                              \
    static enum wsm_err var##_get(const struct cim_ctx *ctx, const struct wsm_pair *keys,          \
                                  size_t n, struct cim_instance *inst)                             \
    {                                                                                              \
        return get_cs(ctx, keys, n, inst, wmi);                                                    \
    }                                                                                              \
    storage const struct cim_class var = {                                                         \
        .name = cname,                                                                             \
        .props = cs_props,                                                                         \
        .nprops = sizeof(cs_props) / sizeof(cs_props[0]),                                          \
        .methods = cs_methods,                                                                     \
        .nmethods = 2,                                                                             \
        .open = var##_open,                                                                        \
        .next = next_cs,                                                                           \
        .close = close_cs,                                                                         \
        .get = var##_get,                                                                          \
        .invoke = cs_invoke,                                                                       \
        .no_account = 1,                                                                           \
    }

CSCLASS(wsmd__ipmi_wmi_cs, "ComputerSystem", 1, );
CSCLASS(cim_cs, "CIM_ComputerSystem", 0, static);

const struct cim_class *const cim_family_hardware_dmtf[] = {&cim_cs, NULL};
