/* The BMCs' System Event Logs as CIM classes (docs/internals/ipmi.md, "The
 * SEL"): RecordLog (one per BMC: the log) and LogRecord (one per entry),
 * as Windows' IPMI provider names them under root/hardware, and as
 * CIM_RecordLog / CIM_LogRecord. Windows' typed RecordFormat/RecordData
 * carry the entry's bytes; Description says it in words (FreeIPMI's, as
 * ipmi-sel prints them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim.h"
#include "ipmi.h"

static const struct cim_prop record_props[] = {
    {"LogCreationClassName", CIM_STRING, CIM_KEY},
    {"LogName", CIM_STRING, CIM_KEY},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"RecordID", CIM_STRING, CIM_KEY},
    {"MessageTimestamp", CIM_DATETIME, CIM_KEY},
    {"SystemName", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"RecordFormat", CIM_STRING, 0},
    {"RecordData", CIM_STRING, 0},
    {"IPMI_RecordID", CIM_UINT16, 0},
    {"IPMI_RecordType", CIM_UINT8, 0},
    {"IPMI_GeneratorID", CIM_UINT16, 0},
    {"IPMI_SensorType", CIM_UINT8, 0},
    {"IPMI_SensorNumber", CIM_UINT8, 0},
    {"IPMI_SensorName", CIM_STRING, 0},
    {"IPMI_AssertionEvent", CIM_BOOLEAN, 0},
    {"IPMI_EventType", CIM_UINT8, 0},
    {"IPMI_EventData", CIM_UINT8, CIM_ARRAY},
};

/* DSP1010's CIM_LogEntry: the same entry under one key, InstanceID
 * ("IPMI:<bmc>:SEL:<RecordID>"), for DMTF clients of the Record Log
 * profile (CIM_LogRecord, the CIM 2.x class Windows uses, stays). */
static const struct cim_prop entry_props[] = {
    {"InstanceID", CIM_STRING, CIM_KEY},
    {"LogInstanceID", CIM_STRING, 0},
    {"LogName", CIM_STRING, 0},
    {"RecordID", CIM_STRING, 0},
    {"CreationTimeStamp", CIM_DATETIME, 0},
    {"Message", CIM_STRING, 0},
    {"PerceivedSeverity", CIM_UINT16, 0},
    {"SystemName", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"RecordFormat", CIM_STRING, 0},
    {"RecordData", CIM_STRING, 0},
    {"IPMI_RecordID", CIM_UINT16, 0},
    {"IPMI_RecordType", CIM_UINT8, 0},
    {"IPMI_GeneratorID", CIM_UINT16, 0},
    {"IPMI_SensorType", CIM_UINT8, 0},
    {"IPMI_SensorNumber", CIM_UINT8, 0},
    {"IPMI_SensorName", CIM_STRING, 0},
    {"IPMI_AssertionEvent", CIM_BOOLEAN, 0},
    {"IPMI_EventType", CIM_UINT8, 0},
    {"IPMI_EventData", CIM_UINT8, CIM_ARRAY},
};

static const struct cim_prop log_props[] = {
    {"InstanceID", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"MaxNumberOfRecords", CIM_UINT64, 0},
    {"CurrentNumberOfRecords", CIM_UINT64, 0},
    {"OverwritePolicy", CIM_UINT16, 0},
    {"LogState", CIM_UINT16, 0},
    {"EnabledState", CIM_UINT16, 0},
    {"HealthState", CIM_UINT16, 0},
    {"OperationalStatus", CIM_UINT16, CIM_ARRAY},
    {"IPMI_FreeSpace", CIM_UINT32, 0},
    {"IPMI_LastAddition", CIM_DATETIME, 0},
    {"IPMI_LastErase", CIM_DATETIME, 0},
    {"IPMI_Truncated", CIM_BOOLEAN, 0},
};

static const struct cim_prop rv_out[] = {{"ReturnValue", CIM_UINT32, 0}};
static const struct cim_method log_methods[] = {
    {"ClearLog", 0, NULL, 0, rv_out, 1},
};

/* The log's key: one SEL per BMC. */
static void log_id(char *buf, size_t n, const char *bmc)
{
    snprintf(buf, n, "IPMI:%s:SEL", bmc);
}

/* Hex bytes, space separated, as Windows writes RecordData's arrays. */
static size_t hex(char *out, const unsigned char *p, size_t n)
{
    static const char d[] = "0123456789ABCDEF";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[k++] = ' ';
        out[k++] = d[p[i] >> 4];
        out[k++] = d[p[i] & 15];
    }
    out[k] = '\0';
    return k;
}

/* IPMI timestamps before 0x20000000 count seconds since the BMC started
 * (IPMI 2.0 s37.1): given as an interval, not a date. */
static void set_ipmi_time(struct cim_instance *inst, const char *prop, uint32_t t)
{
    if (t == 0xffffffffu)
        return; /* unspecified */
    if (t <= 0x20000000u)
        cim_set_fmt(inst, prop, "P%uDT%uH%uM%uS", t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
    else
        cim_set_time(inst, prop, (time_t)t, 0);
}

/* CIM_LogEntry's PerceivedSeverity of a system event: a threshold
 * event's offset (IPMI 2.0 table 42-2: 0-5 lower, 6-11 upper; NC, C, NR
 * in pairs) gives 3 Degraded/Warning, 6 Critical, 7 Fatal when asserted;
 * a deassertion and every other event are 2 Information. */
static unsigned severity(const unsigned char *r)
{
    if (r[2] != 0x02 || (r[12] & 0x80) || (r[12] & 0x7f) != 0x01)
        return 2;
    unsigned off = r[13] & 0x0f;
    if (off > 11)
        return 2;
    static const unsigned char sev[] = {3, 6, 7};
    return sev[(off % 6) / 2];
}

/* mode: 0 CIM_LogRecord, 1 Windows' LogRecord, 2 CIM_LogEntry. */
static void fill_record(struct cim_instance *inst, const char *bmc, const struct ipmi_sel_entry *e,
                        int mode)
{
    const unsigned char *r = e->raw;
    char id[IPMI_NAME_MAX + 16];
    log_id(id, sizeof(id), bmc);
    if (mode == 2) {
        cim_set_fmt(inst, "InstanceID", "%s:%u", id, e->record_id);
        cim_set_str(inst, "LogInstanceID", id);
        cim_set_str(inst, "LogName", "IPMI SEL"); /* the log's Name */
        cim_set_u64(inst, "PerceivedSeverity", severity(r));
    } else {
        cim_set_str(inst, "LogCreationClassName", mode ? "RecordLog" : "CIM_RecordLog");
        cim_set_str(inst, "LogName", id);
        cim_set_str(inst, "CreationClassName", inst->cls->name);
    }
    cim_set_fmt(inst, "RecordID", "%u", e->record_id);
    const char *stamp = mode == 2 ? "CreationTimeStamp" : "MessageTimestamp";
    cim_set_str(inst, "SystemName", bmc);
    cim_set_u64(inst, "IPMI_RecordID", e->record_id);
    unsigned type = r[2];
    cim_set_u64(inst, "IPMI_RecordType", type);
    uint32_t ts =
        (uint32_t)r[3] | (uint32_t)r[4] << 8 | (uint32_t)r[5] << 16 | (uint32_t)r[6] << 24;
    char fmt[512], data[512], b2[8], b4[16], b3[12], b6[20], b13[48];
    hex(b2, r, 2);
    if (type < 0xe0)
        set_ipmi_time(inst, stamp, ts);
    if (type == 0x02) {
        /* A system event record (IPMI 2.0 table 32-1). */
        unsigned sensor = r[11], owner = r[7], lun = r[8] & 3;
        int assertion = !(r[12] & 0x80);
        hex(b4, r + 3, 4);
        char gen[8];
        hex(gen, r + 7, 2);
        snprintf(fmt, sizeof(fmt), "%s",
                 "*string CIM_Sensor.DeviceID*uint8[2] IPMI_RecordID*uint8 IPMI_RecordType"
                 "*uint8[4] IPMI_Timestamp*uint8[2] IPMI_GeneratorID*uint8 IPMI_EvMRev"
                 "*uint8 IPMI_SensorType*uint8 IPMI_SensorNumber*boolean IPMI_AssertionEvent"
                 "*uint8 IPMI_EventType*uint8 IPMI_EventData1*uint8 IPMI_EventData2"
                 "*uint8 IPMI_EventData3*");
        snprintf(data, sizeof(data),
                 "*SEL(%u.%u.%u)*%s*%02X*%s*%s*%02X*%02X*%02X*%s*%02X*%02X*%02X*%02X*", sensor, lun,
                 owner, b2, type, b4, gen, r[9], r[10], r[11], assertion ? "true" : "false",
                 r[12] & 0x7f, r[13], r[14], r[15]);
        cim_set_u64(inst, "IPMI_GeneratorID", (unsigned)r[7] | (unsigned)r[8] << 8);
        cim_set_u64(inst, "IPMI_SensorType", r[10]);
        cim_set_u64(inst, "IPMI_SensorNumber", sensor);
        cim_set_bool(inst, "IPMI_AssertionEvent", assertion);
        cim_set_u64(inst, "IPMI_EventType", r[12] & 0x7f);
        char d1[4], d2[4], d3[4];
        snprintf(d1, sizeof(d1), "%u", r[13]);
        snprintf(d2, sizeof(d2), "%u", r[14]);
        snprintf(d3, sizeof(d3), "%u", r[15]);
        const char *ed[] = {d1, d2, d3};
        cim_set_strv(inst, "IPMI_EventData", ed, 3);
        if (e->sensor[0])
            cim_set_str(inst, "IPMI_SensorName", e->sensor);
        cim_set_fmt(inst, "Description", "%s%s%s (%s)", e->sensor[0] ? e->sensor : "",
                    e->sensor[0] ? ": " : "", e->event[0] ? e->event : "event",
                    assertion ? "Asserted" : "Deasserted");
    } else if (type >= 0xc0 && type < 0xe0) {
        hex(b4, r + 3, 4);
        hex(b3, r + 7, 3);
        hex(b6, r + 10, 6);
        snprintf(fmt, sizeof(fmt), "%s",
                 "*uint8[2] IPMI_RecordID*uint8 IPMI_RecordType*uint8[4] IPMI_Timestamp"
                 "*uint8[3] IPMI_ManufacturerID*uint8[6] IPMI_OEMDefinedData*");
        snprintf(data, sizeof(data), "*%s*%02X*%s*%s*%s*", b2, type, b4, b3, b6);
        cim_set_fmt(inst, "Description", "OEM record %02Xh (timestamped)", type);
    } else {
        hex(b13, r + 3, 13);
        snprintf(fmt, sizeof(fmt), "%s",
                 "*uint8[2] IPMI_RecordID*uint8 IPMI_RecordType*uint8[13] IPMI_OEMDefinedData*");
        snprintf(data, sizeof(data), "*%s*%02X*%s*", b2, type, b13);
        cim_set_fmt(inst, "Description", "OEM record %02Xh", type);
    }
    cim_set_str(inst, "RecordFormat", fmt);
    cim_set_str(inst, "RecordData", data);
    const char *caption = cim_get(inst, "Description");
    cim_set_str(inst, "ElementName", caption);
    cim_set_str(inst, "Caption", caption);
    if (mode == 2)
        cim_set_str(inst, "Message", caption);
}

/* The SEL reply's top-level facts. */
struct sel_head {
    uint64_t entries, free_space, added, erased, cut;
};

static void read_head(const struct ipmi_reply *r, struct sel_head *h)
{
    struct ipmi_rd rd;
    struct ipmi_field f;
    memset(h, 0, sizeof(*h));
    ipmi_rd_init(&rd, r->f.body, r->f.blen);
    while (ipmi_rd_next(&rd, &f) == 1) {
        uint64_t *slot = f.tag == IPMI_T_SEL_ENTRIES  ? &h->entries
                         : f.tag == IPMI_T_SEL_FREE   ? &h->free_space
                         : f.tag == IPMI_T_SEL_ADDED  ? &h->added
                         : f.tag == IPMI_T_SEL_ERASED ? &h->erased
                         : f.tag == IPMI_T_SEL_CUT    ? &h->cut
                                                      : NULL;
        if (slot && ipmi_field_uint(&f, slot) != 0)
            *slot = 0;
    }
}

static void fill_log(struct cim_instance *inst, const char *bmc, const struct ipmi_reply *r)
{
    struct sel_head h;
    read_head(r, &h);
    char id[IPMI_NAME_MAX + 16];
    log_id(id, sizeof(id), bmc);
    cim_set_str(inst, "InstanceID", id);
    cim_set_str(inst, "Name", "IPMI SEL");
    cim_set_fmt(inst, "ElementName", "IPMI System Event Log of %s", bmc);
    cim_set_fmt(inst, "Caption", "IPMI System Event Log of %s", bmc);
    cim_set_str(inst, "SystemName", bmc);
    /* An entry is 16 bytes; a full SEL refuses new entries (IPMI does not
     * wrap): OverwritePolicy 7, "Never Overwrites". */
    cim_set_u64(inst, "MaxNumberOfRecords", h.entries + h.free_space / 16);
    cim_set_u64(inst, "CurrentNumberOfRecords", h.entries);
    cim_set_u64(inst, "OverwritePolicy", 7);
    cim_set_u64(inst, "LogState", 2); /* Normal */
    cim_set_u64(inst, "EnabledState", 2);
    /* A full log loses events: Degraded. */
    int full = h.free_space < 16;
    cim_set_u64(inst, "HealthState", full ? 10 : 5);
    const char *os[] = {full ? "3" : "2"};
    cim_set_strv(inst, "OperationalStatus", os, 1);
    cim_set_u64(inst, "IPMI_FreeSpace", h.free_space);
    set_ipmi_time(inst, "IPMI_LastAddition", (uint32_t)h.added);
    set_ipmi_time(inst, "IPMI_LastErase", (uint32_t)h.erased);
    cim_set_bool(inst, "IPMI_Truncated", h.cut != 0);
}

/* ---- iteration ------------------------------------------------------------ */

static enum wsm_err open_sel(const struct cim_ctx *ctx, void **out, int records, int wmi,
                             const char *only)
{
    return wsmd__ipmi_walk_open(ctx, IPMI_OP_SEL, records, wmi, only, (struct ipmi_walk **)out);
}

/* RecordLog: one instance a BMC (its reply); LogRecord: one an entry. */
static enum wsm_err next_sel(void *p, struct cim_instance *inst)
{
    struct ipmi_walk *w = p;
    if (!w)
        return WSM_ERR_NOT_FOUND;
    if (!w->kind) {
        enum wsm_err e = wsmd__ipmi_walk_reply(w, inst->arena);
        if (e)
            return e;
        fill_log(inst, w->bmc, &w->r);
        return WSM_OK;
    }
    struct ipmi_field f;
    enum wsm_err e = wsmd__ipmi_walk_record(w, inst->arena, &f);
    if (e)
        return e;
    struct ipmi_sel_entry ent;
    if (ipmi_sel_decode(f.v, f.len, &ent) != 0)
        return WSM_ERR_INTERNAL;
    fill_record(inst, w->bmc, &ent, w->wmi);
    return WSM_OK;
}

static void close_sel(void *w)
{
    wsmd__ipmi_walk_free(w);
}

struct sel_key {
    int records;
    const char *rid;
};

/* The dispatcher then compares every key. */
static int same_record(const struct cim_instance *inst, const void *arg)
{
    const struct sel_key *k = arg;
    const char *got = cim_get(inst, "RecordID");
    return !k->records || (k->rid && got && !strcmp(got, k->rid));
}

/* Get: the BMC is the one the log's key names ("IPMI:<bmc>:SEL"). */
static enum wsm_err get_sel(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                            struct cim_instance *inst, int records, int wmi)
{
    const char *id = NULL, *rid = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcasecmp(keys[i].name, records && wmi < 2 ? "LogName" : "InstanceID"))
            id = keys[i].value;
        if (!strcasecmp(keys[i].name, "RecordID"))
            rid = keys[i].value;
    }
    char bmc[IPMI_NAME_MAX + 1];
    size_t l = id ? strlen(id) : 0;
    if (wmi == 2) {
        /* CIM_LogEntry: "IPMI:<bmc>:SEL:<RecordID>", one key. */
        const char *c = id ? strrchr(id, ':') : NULL;
        if (!c || !c[1])
            return WSM_ERR_NOT_FOUND;
        rid = c + 1;
        l = (size_t)(c - id);
    }
    if (l < 10 || strncmp(id, "IPMI:", 5) != 0 || strncmp(id + l - 4, ":SEL", 4) != 0 ||
        l - 9 > IPMI_NAME_MAX)
        return WSM_ERR_NOT_FOUND;
    memcpy(bmc, id + 5, l - 9);
    bmc[l - 9] = '\0';
    void *p = NULL;
    enum wsm_err e = open_sel(ctx, &p, records, wmi, bmc);
    if (e)
        return e;
    struct sel_key k = {records, rid};
    e = wsmd__ipmi_walk_find(p, inst, next_sel, same_record, &k);
    wsmd__ipmi_walk_free(p);
    return e;
}

/* ClearLog on a RecordLog: the BMC's SEL is erased (Clear SEL). A BMC
 * that does not answer is a fault, as for a Get; one that answers but
 * fails the erase is ReturnValue 4 (Failed), 0 on success. */
static enum wsm_err log_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                               const struct cim_instance *target, const struct wsm_pair *in,
                               size_t nin, struct cim_val *out, struct wsm_arena *out_arena)
{
    (void)ctx;
    (void)in;
    (void)nin;
    const char *bmc = target ? cim_get(target, "SystemName") : NULL;
    if (strcmp(m->name, "ClearLog") != 0 || !bmc)
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    struct ipmi_ticket t;
    struct ipmi_reply r;
    enum wsm_err e = wsmd__ipmi_send(IPMI_OP_SEL_CLEAR, bmc, &t);
    if (!e)
        e = wsmd__ipmi_wait(&t, &r);
    if (e)
        return e;
    unsigned rv = 0;
    if (r.f.status == IPMI_ST_BMC_ERROR) {
        (void)wsmd__ipmi_status_err(&r);
        cim_fault_message_take(NULL); /* said through ReturnValue */
        rv = 4;
    } else if ((e = wsmd__ipmi_status_err(&r))) {
        wsmd__ipmi_reply_free(&r);
        return e;
    }
    wsmd__ipmi_reply_free(&r);
    out[0].s = wsm__arena_strdup(out_arena, rv ? "4" : "0");
    return out[0].s ? WSM_OK : WSM_ERR_NOMEM;
}

#define SELCLASS(var, cname, ptab, records, wmi)                                                   \
    static enum wsm_err var##_open(const struct cim_ctx *ctx, void **it)                           \
    {                                                                                              \
        return open_sel(ctx, it, records, wmi, NULL);                                              \
    }                                                                                              \
    static enum wsm_err var##_get(const struct cim_ctx *ctx, const struct wsm_pair *keys,          \
                                  size_t n, struct cim_instance *inst)                             \
    {                                                                                              \
        return get_sel(ctx, keys, n, inst, records, wmi);                                          \
    }                                                                                              \
    const struct cim_class var = {                                                                 \
        .name = cname,                                                                             \
        .props = ptab,                                                                             \
        .nprops = sizeof(ptab) / sizeof(ptab[0]),                                                  \
        .open = var##_open,                                                                        \
        .next = next_sel,                                                                          \
        .close = close_sel,                                                                        \
        .get = var##_get,                                                                          \
        .methods = records ? NULL : log_methods,                                                   \
        .nmethods = records ? 0 : 1,                                                               \
        .invoke = records ? NULL : log_invoke,                                                     \
        .no_account = 1,                                                                           \
    }

SELCLASS(wsmd__ipmi_wmi_logrecord, "LogRecord", record_props, 1, 1);
SELCLASS(wsmd__ipmi_wmi_recordlog, "RecordLog", log_props, 0, 1);
SELCLASS(wsmd__ipmi_cim_logrecord, "CIM_LogRecord", record_props, 1, 0);
SELCLASS(wsmd__ipmi_cim_recordlog, "CIM_RecordLog", log_props, 0, 0);
SELCLASS(wsmd__ipmi_cim_logentry, "CIM_LogEntry", entry_props, 1, 2);
