/* BMC sensors as CIM classes (docs/internals/ipmi.md, "The mapping"):
 * NumericSensor (threshold sensors) and Sensor (discrete ones), as
 * Windows' IPMI provider names them under root/hardware, and as the DMTF
 * Sensors profile's CIM_NumericSensor and CIM_Sensor. The data comes
 * from wsmd-ipmi (ipmiclient.c); every configured BMC is a system of its
 * own, named by SystemName (its name in IpmiHosts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim.h"
#include "ipmi.h"

/* ---- properties --------------------------------------------------------- */

#define SENSOR_COMMON                                                                              \
    {"SystemCreationClassName", CIM_STRING, CIM_KEY}, {"SystemName", CIM_STRING, CIM_KEY},         \
        {"CreationClassName", CIM_STRING, CIM_KEY}, {"DeviceID", CIM_STRING, CIM_KEY},             \
        {"ElementName", CIM_STRING, 0}, {"Caption", CIM_STRING, 0}, {"Name", CIM_STRING, 0},       \
        {"SensorType", CIM_UINT16, 0}, {"OtherSensorTypeDescription", CIM_STRING, 0},              \
        {"PossibleStates", CIM_STRING, CIM_ARRAY}, {"CurrentState", CIM_STRING, 0},                \
        {"HealthState", CIM_UINT16, 0}, {"OperationalStatus", CIM_UINT16, CIM_ARRAY},              \
        {"EnabledState", CIM_UINT16, 0}, {"IPMI_SensorNumber", CIM_UINT8, 0},                      \
        {"IPMI_OwnerID", CIM_UINT8, 0}, {"IPMI_OwnerLUN", CIM_UINT8, 0},                           \
        {"IPMI_SensorType", CIM_UINT8, 0}, {"IPMI_EventReadingType", CIM_UINT8, 0},                \
        {"IPMI_EntityID", CIM_UINT8, 0}, {"IPMI_EntityInstance", CIM_UINT8, 0},                    \
        {"IPMI_RecordID", CIM_UINT16, 0},                                                          \
    {                                                                                              \
        "IPMI_State", CIM_UINT16, 0                                                                \
    }

static const struct cim_prop numeric_props[] = {
    SENSOR_COMMON,
    {"BaseUnits", CIM_UINT16, 0},
    {"UnitModifier", CIM_SINT32, 0},
    {"RateUnits", CIM_UINT16, 0},
    {"CurrentReading", CIM_SINT32, 0},
    {"IsLinear", CIM_BOOLEAN, 0},
    {"LowerThresholdNonCritical", CIM_SINT32, 0},
    {"UpperThresholdNonCritical", CIM_SINT32, 0},
    {"LowerThresholdCritical", CIM_SINT32, 0},
    {"UpperThresholdCritical", CIM_SINT32, 0},
    {"LowerThresholdFatal", CIM_SINT32, 0},
    {"UpperThresholdFatal", CIM_SINT32, 0},
    {"SupportedThresholds", CIM_UINT16, CIM_ARRAY},
    {"EnabledThresholds", CIM_UINT16, CIM_ARRAY},
    {"SettableThresholds", CIM_UINT16, CIM_ARRAY},
};

static const struct cim_prop discrete_props[] = {SENSOR_COMMON};

/* ---- IPMI -> CIM --------------------------------------------------------- */

static const char *const ipmi_type_names[] = {
    [0x01] = "Temperature",
    [0x02] = "Voltage",
    [0x03] = "Current",
    [0x04] = "Fan",
    [0x05] = "Physical Security",
    [0x06] = "Platform Security",
    [0x07] = "Processor",
    [0x08] = "Power Supply",
    [0x09] = "Power Unit",
    [0x0a] = "Cooling Device",
    [0x0b] = "Other Units Based Sensor",
    [0x0c] = "Memory",
    [0x0d] = "Drive Slot",
    [0x0f] = "System Firmware Progress",
    [0x10] = "Event Logging Disabled",
    [0x12] = "System Event",
    [0x13] = "Critical Interrupt",
    [0x14] = "Button / Switch",
    [0x15] = "Module / Board",
    [0x17] = "Add-in Card",
    [0x18] = "Chassis",
    [0x19] = "Chip Set",
    [0x1a] = "Other FRU",
    [0x1b] = "Cable / Interconnect",
    [0x1d] = "System Boot Initiated",
    [0x1f] = "OS Boot",
    [0x20] = "OS Stop / Shutdown",
    [0x21] = "Slot / Connector",
    [0x22] = "System ACPI Power State",
    [0x23] = "Watchdog 2",
    [0x25] = "Entity Presence",
    [0x28] = "Management Subsystem Health",
    [0x29] = "Battery",
    [0x2b] = "Version Change",
    [0x2c] = "FRU State",
};

/* CIM_Sensor.SensorType for an IPMI sensor type (DSP1009). */
static unsigned cim_sensor_type(unsigned t)
{
    switch (t) {
    case 0x01:
        return 2; /* Temperature */
    case 0x02:
        return 3; /* Voltage */
    case 0x03:
        return 4; /* Current */
    case 0x04:
        return 5; /* Tachometer */
    case 0x05:
        return 16; /* Intrusion */
    default:
        return 1; /* Other, with OtherSensorTypeDescription */
    }
}

/* CIM's SupportedThresholds values, by IPMI threshold index. */
static const unsigned cim_thr[IPMI_NTHR] = {0, 2, 4, 1, 3, 5};
static const char *const thr_props[IPMI_NTHR] = {
    "LowerThresholdNonCritical", "LowerThresholdCritical", "LowerThresholdFatal",
    "UpperThresholdNonCritical", "UpperThresholdCritical", "UpperThresholdFatal",
};
static const char *const thr_states[IPMI_NTHR] = {
    "Lower Non-Critical", "Lower Critical", "Lower Fatal",
    "Upper Non-Critical", "Upper Critical", "Upper Fatal",
};

/* The exponent the integers are given in: the SDR's R (10^R is the step
 * of a linear sensor), lowered by B's exponent when B has a fraction.
 * Non-linear sensors are given in hundredths. */
int wsmd__ipmi_unit_modifier(const struct ipmi_sensor *s);
int wsmd__ipmi_unit_modifier(const struct ipmi_sensor *s)
{
    if (s->linear != 0 && s->linear != 0x70)
        return -2;
    int um = s->r_exp;
    if (s->b != 0 && s->b_exp < 0)
        um += s->b_exp;
    return um;
}

/* v / 10^um, rounded (half away from zero); multiplying by 10^-um keeps
 * 12.0 V at R = -1 exactly 120. Without libm: wsmd does not link it. */
static long long scaled(double v, int um)
{
    double f = 1;
    for (int i = 0; i < (um < 0 ? -um : um) && i < 30; i++)
        f *= 10;
    v = um < 0 ? v * f : v / f;
    if (v > 9.2e18 || v < -9.2e18)
        return 0;
    return (long long)(v < 0 ? v - 0.5 : v + 0.5);
}

/* The worst threshold crossed: its index, or -1 for none. Fatal before
 * critical before non-critical. */
static int worst_threshold(uint16_t bits)
{
    static const int order[] = {IPMI_UNR, IPMI_LNR, IPMI_UC, IPMI_LC, IPMI_UNC, IPMI_LNC};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (bits & (1u << order[i]))
            return order[i];
    return -1;
}

/* HealthState and OperationalStatus from the state (DSP1009; Dell's
 * profile restricts to these): our mapping from the status bits, not
 * FreeIPMI's interpretation (which calls non-critical "Nominal"). */
static void health(struct cim_instance *inst, unsigned hs)
{
    static const char *const os_ok[] = {"2"}, *const os_degraded[] = {"3"},
                             *const os_error[] = {"6"}, *const os_nonrec[] = {"7"},
                             *const os_unknown[] = {"0"};
    cim_set_u64(inst, "HealthState", hs);
    const char *const *os = hs == 5    ? os_ok
                            : hs == 10 ? os_degraded
                            : hs == 25 ? os_error
                            : hs == 30 ? os_nonrec
                                       : os_unknown;
    cim_set_strv(inst, "OperationalStatus", os, 1);
}

/* Power Supply (IPMI 2.0 table 42-3, sensor type 08h) offsets. */
static const char *const psu_states[] = {
    "Presence detected",
    "Power Supply Failure detected",
    "Predictive Failure",
    "Power Supply input lost (AC/DC)",
    "Power Supply input lost or out-of-range",
    "Power Supply input out-of-range, but present",
    "Configuration error",
    "Power Supply Inactive",
};

static void fill_common(struct cim_instance *inst, const char *bmc, const struct ipmi_sensor *s,
                        int wmi, const char *cls)
{
    cim_set_str(inst, "SystemCreationClassName", wmi ? "ComputerSystem" : "CIM_ComputerSystem");
    cim_set_str(inst, "SystemName", bmc);
    cim_set_str(inst, "CreationClassName", cls);
    /* Windows' form: sensor number . LUN . owner, in decimal. */
    cim_set_fmt(inst, "DeviceID", "%u.%u.%u", s->number, s->lun, s->owner);
    cim_set_str(inst, "ElementName", s->name);
    cim_set_str(inst, "Caption", s->name);
    cim_set_str(inst, "Name", s->name);
    unsigned st = cim_sensor_type(s->type);
    cim_set_u64(inst, "SensorType", st);
    if (st == 1) {
        const char *n = s->type < sizeof(ipmi_type_names) / sizeof(ipmi_type_names[0])
                            ? ipmi_type_names[s->type]
                            : NULL;
        if (n)
            cim_set_str(inst, "OtherSensorTypeDescription", n);
        else
            cim_set_fmt(inst, "OtherSensorTypeDescription", "IPMI sensor type 0x%02x", s->type);
    }
    cim_set_u64(inst, "EnabledState", (s->rflags & IPMI_RF_SCANNING_OFF) ? 3 : 2);
    cim_set_u64(inst, "IPMI_SensorNumber", s->number);
    cim_set_u64(inst, "IPMI_OwnerID", s->owner);
    cim_set_u64(inst, "IPMI_OwnerLUN", s->lun);
    cim_set_u64(inst, "IPMI_SensorType", s->type);
    cim_set_u64(inst, "IPMI_EventReadingType", s->reading_type);
    cim_set_u64(inst, "IPMI_EntityID", s->entity_id);
    cim_set_u64(inst, "IPMI_EntityInstance", s->entity_instance);
    cim_set_u64(inst, "IPMI_RecordID", s->record_id);
    if (!(s->rflags & (IPMI_RF_UNAVAILABLE | IPMI_RF_SCANNING_OFF)))
        cim_set_u64(inst, "IPMI_State", s->state);
}

static void fill_numeric(struct cim_instance *inst, const char *bmc, const struct ipmi_sensor *s,
                         int wmi)
{
    fill_common(inst, bmc, s, wmi, inst->cls->name);
    int um = wsmd__ipmi_unit_modifier(s);
    cim_set_u64(inst, "BaseUnits", s->unit_base ? s->unit_base + 1u : 0u);
    cim_set_s64(inst, "UnitModifier", um);
    cim_set_u64(inst, "RateUnits", s->unit_rate <= 6 ? s->unit_rate : 0);
    cim_set_bool(inst, "IsLinear", s->linear == 0);
    const char *sup[IPMI_NTHR], *set[IPMI_NTHR], *poss[IPMI_NTHR + 2];
    char supbuf[IPMI_NTHR][4], setbuf[IPMI_NTHR][4];
    size_t nsup = 0, nset = 0, nposs = 0;
    poss[nposs++] = "Unknown";
    poss[nposs++] = "Normal";
    for (int i = 0; i < IPMI_NTHR; i++) {
        if (s->thr_readable & (1u << i)) {
            snprintf(supbuf[nsup], sizeof(supbuf[nsup]), "%u", cim_thr[i]);
            sup[nsup] = supbuf[nsup];
            nsup++;
            poss[nposs++] = thr_states[i];
        }
        if (s->thr_settable & (1u << i)) {
            snprintf(setbuf[nset], sizeof(setbuf[nset]), "%u", cim_thr[i]);
            set[nset] = setbuf[nset];
            nset++;
        }
        if (s->thr_present & (1u << i))
            cim_set_s64(inst, thr_props[i], scaled(s->thr[i], um));
    }
    cim_set_strv(inst, "SupportedThresholds", sup, nsup);
    cim_set_strv(inst, "EnabledThresholds", sup, nsup);
    cim_set_strv(inst, "SettableThresholds", set, nset);
    cim_set_strv(inst, "PossibleStates", poss, nposs);
    if (!s->has_value || (s->rflags & (IPMI_RF_UNAVAILABLE | IPMI_RF_SCANNING_OFF))) {
        cim_set_str(inst, "CurrentState", "Unknown");
        health(inst, 0);
        return;
    }
    cim_set_s64(inst, "CurrentReading", scaled(s->value, um));
    int w = worst_threshold(s->state);
    cim_set_str(inst, "CurrentState", w < 0 ? "Normal" : thr_states[w]);
    health(inst, w < 0                            ? 5
                 : w == IPMI_UNR || w == IPMI_LNR ? 30
                 : w == IPMI_UC || w == IPMI_LC   ? 25
                                                  : 10);
}

static void fill_discrete(struct cim_instance *inst, const char *bmc, const struct ipmi_sensor *s,
                          int wmi)
{
    fill_common(inst, bmc, s, wmi, inst->cls->name);
    const char *const *names = NULL;
    size_t nnames = 0;
    if (s->type == 0x08 && s->reading_type == 0x6f) {
        names = psu_states;
        nnames = sizeof(psu_states) / sizeof(psu_states[0]);
    }
    const char *poss[16];
    char other[16][24];
    for (size_t i = 0; i < 15; i++) {
        if (i < nnames) {
            poss[i] = names[i];
        } else {
            snprintf(other[i], sizeof(other[i]), "State %zu", i);
            poss[i] = other[i];
        }
    }
    cim_set_strv(inst, "PossibleStates", poss, nnames ? nnames : 15);
    if (s->rflags & (IPMI_RF_UNAVAILABLE | IPMI_RF_SCANNING_OFF)) {
        cim_set_str(inst, "CurrentState", "Unknown");
        health(inst, 0);
        return;
    }
    /* The first asserted state is the current one (a CIM sensor has one);
     * IPMI_State keeps them all. */
    int first = -1;
    for (int i = 0; i < 15 && first < 0; i++)
        if (s->state & (1u << i))
            first = i;
    cim_set_str(inst, "CurrentState", first < 0 ? "Normal" : poss[first]);
    unsigned hs = 5;
    if (s->type == 0x08 && s->reading_type == 0x6f) {
        if (s->state & (1u << 1 | 1u << 3 | 1u << 4 | 1u << 6))
            hs = 25;
        else if (s->state & (1u << 2 | 1u << 5))
            hs = 10;
    }
    health(inst, hs);
}

/* ---- sensor enumeration --------------------------------------------------- */

static enum wsm_err open_any(const struct cim_ctx *ctx, void **out, int numeric, int wmi,
                             const char *only)
{
    return wsmd__ipmi_walk_open(ctx, IPMI_OP_SENSORS, numeric, wmi, only, (struct ipmi_walk **)out);
}

/* The walk's records are every sensor; a class takes the numeric ones
 * (reading type 01h, threshold) or the others. */
static enum wsm_err next_any(void *p, struct cim_instance *inst)
{
    struct ipmi_walk *w = p;
    if (!w)
        return WSM_ERR_NOT_FOUND;
    for (;;) {
        struct ipmi_field f;
        enum wsm_err e = wsmd__ipmi_walk_record(w, inst->arena, &f);
        if (e)
            return e;
        struct ipmi_sensor s;
        if (ipmi_sensor_decode(f.v, f.len, &s) != 0)
            return WSM_ERR_INTERNAL;
        if ((s.reading_type == 0x01) != w->kind)
            continue;
        if (w->kind)
            fill_numeric(inst, w->bmc, &s, w->wmi);
        else
            fill_discrete(inst, w->bmc, &s, w->wmi);
        return WSM_OK;
    }
}

static void close_any(void *w)
{
    wsmd__ipmi_walk_free(w);
}

static int same_device(const struct cim_instance *inst, const void *dev)
{
    const char *d = cim_get(inst, "DeviceID");
    return d && !strcmp(d, dev);
}

/* Get: only the BMC the keys name is asked. */
static enum wsm_err get_any(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                            struct cim_instance *inst, int numeric, int wmi)
{
    const char *sys = NULL, *dev = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcasecmp(keys[i].name, "SystemName"))
            sys = keys[i].value;
        else if (!strcasecmp(keys[i].name, "DeviceID"))
            dev = keys[i].value;
    }
    if (!sys || !dev)
        return WSM_ERR_NOT_FOUND;
    void *p = NULL;
    enum wsm_err e = open_any(ctx, &p, numeric, wmi, sys);
    if (e)
        return e;
    e = wsmd__ipmi_walk_find(p, inst, next_any, same_device, dev);
    wsmd__ipmi_walk_free(p);
    return e;
}

#define CLASS(var, cname, ptab, numeric, wmi)                                                      \
    static enum wsm_err var##_open(const struct cim_ctx *ctx, void **it)                           \
    {                                                                                              \
        return open_any(ctx, it, numeric, wmi, NULL);                                              \
    }                                                                                              \
    static enum wsm_err var##_get(const struct cim_ctx *ctx, const struct wsm_pair *keys,          \
                                  size_t n, struct cim_instance *inst)                             \
    {                                                                                              \
        return get_any(ctx, keys, n, inst, numeric, wmi);                                          \
    }                                                                                              \
    static const struct cim_class var = {                                                          \
        .name = cname,                                                                             \
        .props = ptab,                                                                             \
        .nprops = sizeof(ptab) / sizeof(ptab[0]),                                                  \
        .open = var##_open,                                                                        \
        .next = next_any,                                                                          \
        .close = close_any,                                                                        \
        .get = var##_get,                                                                          \
    }

CLASS(wmi_numeric, "NumericSensor", numeric_props, 1, 1);
CLASS(wmi_sensor, "Sensor", discrete_props, 0, 1);
CLASS(cim_numeric, "CIM_NumericSensor", numeric_props, 1, 0);
CLASS(cim_sensor, "CIM_Sensor", discrete_props, 0, 0);

extern const struct cim_class wsmd__ipmi_wmi_logrecord, wsmd__ipmi_wmi_recordlog,
    wsmd__ipmi_cim_logrecord, wsmd__ipmi_cim_recordlog, wsmd__ipmi_cim_logentry; /* ipmisel.c */
extern const struct cim_class wsmd__ipmi_wmi_cs;                                 /* ipmisys.c */
extern const struct cim_class wsmd__ipmi_wmi_profile, wsmd__ipmi_cim_profile;    /* ipmiprofile.c */
extern const struct cim_class wsmd__ipmi_cim_chassis, wsmd__ipmi_cim_card,
    wsmd__ipmi_cim_package; /* ipmifru.c */

const struct cim_class *const cim_family_hardware[] = {&wmi_numeric,
                                                       &wmi_sensor,
                                                       &wsmd__ipmi_wmi_logrecord,
                                                       &wsmd__ipmi_wmi_recordlog,
                                                       &wsmd__ipmi_wmi_cs,
                                                       &wsmd__ipmi_wmi_profile,
                                                       NULL};
const struct cim_class *const cim_family_ipmi[] = {&cim_numeric,
                                                   &cim_sensor,
                                                   &wsmd__ipmi_cim_logrecord,
                                                   &wsmd__ipmi_cim_recordlog,
                                                   &wsmd__ipmi_cim_logentry,
                                                   &wsmd__ipmi_cim_chassis,
                                                   &wsmd__ipmi_cim_card,
                                                   &wsmd__ipmi_cim_package,
                                                   &wsmd__ipmi_cim_profile,
                                                   NULL};
