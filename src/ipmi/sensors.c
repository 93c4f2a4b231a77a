/* wsmd-ipmi: the sensors of one BMC: SDR records to typed records (threshold sensors
 * with their live thresholds).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors (see wsmd-ipmi.c and COPYING) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

/* ---- the SDR repository ----------------------------------------------- */

/* Reads the whole SDR repository into memory, through FreeIPMI's cache
 * file (its only way in). The file stays open while the BMC is known: the
 * SEL's sensor names and readings are worded from it; it is removed when
 * the session is dropped and at exit. */
int load_sdr(struct bmc *b, char *err, size_t errn)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/sdr.%p", cachedir, (void *)b);
    unlink(path);
    int rc = -1;
    if (ipmi_sdr_cache_create(b->sdr, b->ctx, path, IPMI_SDR_CACHE_CREATE_FLAGS_OVERWRITE, NULL,
                              NULL) < 0 ||
        ipmi_sdr_cache_open(b->sdr, NULL, path) < 0) {
        snprintf(err, errn, "reading the SDR repository: %s", ipmi_sdr_ctx_errormsg(b->sdr));
        unlink(path);
        return -1;
    }
    uint16_t count = 0;
    if (ipmi_sdr_cache_record_count(b->sdr, &count) == 0 && count <= MAX_SDR_RECORDS &&
        (b->recs = calloc(count ? count : 1, sizeof(*b->recs)))) {
        rc = 0;
        for (int more = ipmi_sdr_cache_first(b->sdr) == 0; more && b->nrecs < count;
             more = ipmi_sdr_cache_next(b->sdr) == 1) {
            unsigned char buf[IPMI_SDR_MAX_RECORD_LENGTH];
            int n = ipmi_sdr_cache_record_read(b->sdr, buf, sizeof(buf));
            if (n <= 0)
                continue;
            struct sdr_rec *r = &b->recs[b->nrecs];
            if (!(r->p = malloc((size_t)n))) {
                rc = -1;
                break;
            }
            memcpy(r->p, buf, (size_t)n);
            r->n = (unsigned)n;
            b->nrecs++;
        }
    } else {
        snprintf(err, errn, "the SDR repository has %u records (at most %d are read)", count,
                 MAX_SDR_RECORDS);
    }
    if (rc == 0) {
        snprintf(b->sdr_path, sizeof(b->sdr_path), "%s", path);
    } else {
        ipmi_sdr_cache_close(b->sdr);
        unlink(path);
    }
    return rc;
}

/* Forgets the SDR (the records, their parsed forms, the cache file) and
 * the SEL read with it: after a lost session the BMC may be another. */
void drop_sdr(struct bmc *b)
{
    for (size_t i = 0; i < b->nrecs; i++) {
        free(b->recs[i].p);
        free(b->recs[i].s);
    }
    free(b->recs);
    b->recs = NULL;
    b->nrecs = 0;
    if (b->sdr_path[0]) {
        ipmi_sdr_cache_close(b->sdr);
        unlink(b->sdr_path);
        b->sdr_path[0] = '\0';
    }
    free(b->sel);
    b->sel = NULL;
    free(b->fru);
    b->fru = NULL;
    b->nfru = 0;
    b->fru_valid = 0;
    b->nsel = 0;
    b->sel_valid = 0;
}

/* ---- sensors ---------------------------------------------------------- */

static const char *const thr_fields[IPMI_NTHR] = {
    "lower_non_critical_threshold", "lower_critical_threshold", "lower_non_recoverable_threshold",
    "upper_non_critical_threshold", "upper_critical_threshold", "upper_non_recoverable_threshold",
};

/* The SDR's readable and settable threshold masks. */
static void threshold_masks(struct bmc *b, struct ipmi_sensor *s, const struct sdr_rec *r)
{
    uint8_t rd[IPMI_NTHR] = {0}, st[IPMI_NTHR] = {0};
    if (ipmi_sdr_parse_threshold_readable(b->sdr, r->p, r->n, &rd[0], &rd[1], &rd[2], &rd[3],
                                          &rd[4], &rd[5]) < 0)
        return;
    if (ipmi_sdr_parse_threshold_settable(b->sdr, r->p, r->n, &st[0], &st[1], &st[2], &st[3],
                                          &st[4], &st[5]) < 0)
        memset(st, 0, sizeof(st));
    for (int i = 0; i < IPMI_NTHR; i++) {
        s->thr_readable |= (uint8_t)((rd[i] ? 1u : 0u) << i);
        s->thr_settable |= (uint8_t)((st[i] ? 1u : 0u) << i);
    }
}

static void read_thresholds(struct bmc *b, struct ipmi_sensor *s, uint8_t fmt)
{
    if (!s->thr_readable)
        return;
    fiid_obj_t rs = fiid_obj_create(tmpl_cmd_get_sensor_thresholds_rs);
    if (!rs)
        return;
    /* The live thresholds (Get Sensor Thresholds), not the SDR's initial ones. */
    if (ipmi_cmd_get_sensor_thresholds(b->ctx, s->number, rs) == 0) {
        for (int i = 0; i < IPMI_NTHR; i++) {
            char name[80];
            uint64_t ok = 0, raw = 0;
            snprintf(name, sizeof(name), "readable_thresholds.%s", thr_fields[i]);
            double v;
            if (FIID_OBJ_GET(rs, name, &ok) < 0 || !ok || FIID_OBJ_GET(rs, thr_fields[i], &raw) < 0)
                continue;
            if (ipmi_sensor_decode_value(s->r_exp, s->b_exp, s->m, s->b, s->linear, fmt,
                                         (uint8_t)raw, &v) < 0)
                continue;
            s->thr[i] = v;
            s->thr_present |= (uint8_t)(1u << i);
        }
    }
    fiid_obj_destroy(rs);
}

/* The SDR's part of a sensor, parsed once per SDR read (r->s): 1 a
 * sensor, -1 not a sensor record, 0 out of memory. */
static int parse_sensor(struct bmc *b, struct sdr_rec *r)
{
    if (r->kind)
        return r->kind;
    struct ipmi_sensor *s = calloc(1, sizeof(*s));
    if (!s)
        return 0;
    uint16_t rid;
    uint8_t rtype;
    if (ipmi_sdr_parse_record_id_and_type(b->sdr, r->p, r->n, &rid, &rtype) < 0 ||
        (rtype != IPMI_SDR_FORMAT_FULL_SENSOR_RECORD &&
         rtype != IPMI_SDR_FORMAT_COMPACT_SENSOR_RECORD)) {
        free(s);
        return r->kind = -1;
    }
    s->record_id = rid;
    uint8_t owner_type = 0, owner = 0, lun = 0, chan = 0, ent_type = 0, pct = 0, mod = 0, rate = 0,
            base = 0, modu = 0, fmt = 0;
    ipmi_sdr_parse_sensor_owner_id(b->sdr, r->p, r->n, &owner_type, &owner);
    s->owner = (uint8_t)(owner << 1 | owner_type); /* as the 8-bit slave address */
    ipmi_sdr_parse_sensor_owner_lun(b->sdr, r->p, r->n, &lun, &chan);
    s->lun = lun;
    ipmi_sdr_parse_sensor_number(b->sdr, r->p, r->n, &s->number);
    ipmi_sdr_parse_entity_id_instance_type(b->sdr, r->p, r->n, &s->entity_id, &s->entity_instance,
                                           &ent_type);
    ipmi_sdr_parse_sensor_type(b->sdr, r->p, r->n, &s->type);
    ipmi_sdr_parse_event_reading_type_code(b->sdr, r->p, r->n, &s->reading_type);
    char name[IPMI_SDR_MAX_ID_STRING_LENGTH + 1] = {0};
    if (ipmi_sdr_parse_id_string(b->sdr, r->p, r->n, name, sizeof(name) - 1) < 0)
        name[0] = '\0';
    snprintf(s->name, sizeof(s->name), "%s", name);
    if (ipmi_sdr_parse_sensor_units(b->sdr, r->p, r->n, &pct, &mod, &rate, &base, &modu) == 0) {
        s->unit_pct = pct;
        s->unit_rate = rate;
        s->unit_base = base;
        s->unit_modifier = modu;
    }
    int threshold = s->reading_type == IPMI_EVENT_READING_TYPE_CODE_THRESHOLD &&
                    rtype == IPMI_SDR_FORMAT_FULL_SENSOR_RECORD;
    if (threshold) {
        ipmi_sdr_parse_sensor_decoding_data(b->sdr, r->p, r->n, &s->r_exp, &s->b_exp, &s->m, &s->b,
                                            &s->linear, &fmt);
        threshold_masks(b, s, r);
    }
    r->s = s;
    r->fmt = fmt;
    r->threshold = (uint8_t)threshold;
    return r->kind = 1;
}

static int sensor_of(struct bmc *b, struct sdr_rec *r, struct ipmi_sensor *s)
{
    int k = parse_sensor(b, r);
    if (k <= 0)
        return k < 0 ? -1 : -3;
    *s = *r->s;
    uint8_t raw = 0;
    double *val = NULL;
    uint16_t bits = 0;
    int rc = ipmi_sensor_read(b->sread, r->p, r->n, 0, &raw, &val, &bits);
    if (rc < 0) {
        int en = ipmi_sensor_read_ctx_errnum(b->sread);
        if (en == IPMI_SENSOR_READ_ERR_SENSOR_SCANNING_DISABLED)
            s->rflags |= IPMI_RF_SCANNING_OFF;
        else if (en == IPMI_SENSOR_READ_ERR_IPMI_ERROR || en == IPMI_SENSOR_READ_ERR_SYSTEM_ERROR)
            return -2; /* the session itself failed */
        else
            s->rflags |= IPMI_RF_UNAVAILABLE;
    } else if (rc == 0) {
        s->rflags |= IPMI_RF_UNAVAILABLE;
    } else {
        s->raw = raw;
        s->state = bits;
        if (val) {
            s->value = *val;
            s->has_value = 1;
        }
    }
    free(val);
    if (r->threshold)
        read_thresholds(b, s, r->fmt);
    return 0;
}

void do_sensors(struct bmc *b, uint32_t id)
{
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, id, IPMI_OP_SENSORS | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    for (size_t i = 0; i < b->nrecs; i++) {
        struct ipmi_sensor s;
        int rc = sensor_of(b, &b->recs[i], &s);
        if (rc == -2) {
            char err[768];
            snprintf(err, sizeof(err), "reading sensors of %s: %s", b->cfg.name,
                     ipmi_ctx_errormsg(b->ctx));
            logline("event=ipmi-bmc-error bmc=%s reason=\"%s\"", b->cfg.name, err);
            close_session(b);
            set_state(b, IPMI_BMC_DOWN, err);
            send_error(id, IPMI_OP_SENSORS, IPMI_ST_UNREACHABLE, b->cfg.name, err);
            ipmiw_free(&w);
            return;
        }
        if (rc == 0)
            ipmi_sensor_encode(&w, &s);
        else if (rc == -3)
            w.fail = 1; /* out of memory: said as an internal error */
    }
    b->last_ok = now_ms();
    if (w.fail)
        send_error(id, IPMI_OP_SENSORS, IPMI_ST_INTERNAL, b->cfg.name, "the reply is too large");
    else
        send_frame(&w);
    ipmiw_free(&w);
}
