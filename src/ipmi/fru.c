/* wsmd-ipmi: the FRU inventory (IPMI Platform Management FRU Information
 * Storage Definition 1.0): the chassis, board and product areas of a FRU
 * device, through FreeIPMI's FRU reader (the same as ipmi-fru's, so the
 * test oracle and wsmd agree on 6-bit and BCD+ text).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors (see wsmd-ipmi.c and COPYING) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <freeipmi/freeipmi.h>

#include "helper.h"

/* A type/length field as text, cut to the frame's bound. */
static void text(ipmi_fru_ctx_t fc, const ipmi_fru_field_t *f, uint8_t lang, char *out, size_t n)
{
    char buf[IPMI_FRU_AREA_STRING_MAX + 1];
    unsigned len = IPMI_FRU_AREA_STRING_MAX;
    out[0] = '\0';
    if (!f->type_length_field_length)
        return;
    memset(buf, 0, sizeof(buf));
    if (ipmi_fru_type_length_field_to_string(fc, f->type_length_field, f->type_length_field_length,
                                             lang, buf, &len) < 0)
        return;
    buf[len < IPMI_FRU_AREA_STRING_MAX ? len : IPMI_FRU_AREA_STRING_MAX] = '\0';
    /* Printable text only (a FRU is written by a vendor's tool, and the
     * text goes into XML and log lines). */
    size_t k = 0;
    for (const char *p = buf; *p && k + 1 < n; p++)
        if ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
            out[k++] = *p;
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

/* One area into a record: 0, or -1 when it does not parse (skipped). */
static int area(ipmi_fru_ctx_t fc, unsigned type, const uint8_t *p, unsigned n, struct ipmi_fru *f)
{
    ipmi_fru_field_t a, b, c, d, e, g, h;
    uint8_t lang = 0, ct = 0;
    uint32_t date = 0;
    memset(f, 0, sizeof(*f));
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    memset(&e, 0, sizeof(e));
    memset(&g, 0, sizeof(g));
    memset(&h, 0, sizeof(h));
    switch (type) {
    case IPMI_FRU_AREA_TYPE_CHASSIS_INFO_AREA:
        if (ipmi_fru_chassis_info_area(fc, p, n, &ct, &a, &b, NULL, 0) < 0)
            return -1;
        f->area = IPMI_FRU_CHASSIS;
        f->chassis_type = ct;
        text(fc, &a, 0, f->part, sizeof(f->part));
        text(fc, &b, 0, f->serial, sizeof(f->serial));
        return 0;
    case IPMI_FRU_AREA_TYPE_BOARD_INFO_AREA:
        if (ipmi_fru_board_info_area(fc, p, n, &lang, &date, &a, &b, &c, &d, &e, NULL, 0) < 0)
            return -1;
        f->area = IPMI_FRU_BOARD;
        f->date = date;
        text(fc, &a, lang, f->mfg, sizeof(f->mfg));
        text(fc, &b, lang, f->name, sizeof(f->name));
        text(fc, &c, lang, f->serial, sizeof(f->serial));
        text(fc, &d, lang, f->part, sizeof(f->part));
        return 0;
    case IPMI_FRU_AREA_TYPE_PRODUCT_INFO_AREA:
        if (ipmi_fru_product_info_area(fc, p, n, &lang, &a, &b, &c, &d, &e, &g, &h, NULL, 0) < 0)
            return -1;
        f->area = IPMI_FRU_PRODUCT;
        text(fc, &a, lang, f->mfg, sizeof(f->mfg));
        text(fc, &b, lang, f->name, sizeof(f->name));
        text(fc, &c, lang, f->part, sizeof(f->part));
        text(fc, &d, lang, f->version, sizeof(f->version));
        text(fc, &e, lang, f->serial, sizeof(f->serial));
        text(fc, &g, lang, f->asset, sizeof(f->asset));
        return 0;
    default:
        return -1; /* multirecords: not modelled */
    }
}

#define MAX_FRU_DEVICES 16

/* The FRU devices to read: 0 (the BMC's own, always there per IPMI) and
 * each logical FRU device at the BMC that an SDR FRU Device Locator
 * record (type 11h) names, with that record's name. Bytes of the record
 * (IPMI 2.0 table 43-7): 5 device access address, 6 FRU device id, 7 bit
 * 7 logical, 8 channel (bits 7:4), 15 id string type/length, 16.. id. */
static size_t fru_devices(const struct bmc *b, uint8_t *ids,
                          char (*names)[IPMI_SENSOR_NAME_MAX + 1])
{
    size_t n = 1;
    ids[0] = 0;
    names[0][0] = '\0';
    for (size_t i = 0; i < b->nrecs && n < MAX_FRU_DEVICES; i++) {
        const unsigned char *p = b->recs[i].p;
        unsigned len = b->recs[i].n;
        if (len < 16 || p[3] != 0x11 || !(p[7] & 0x80) || p[5] != 0x20 || p[8] >> 4 || p[6] == 0xff)
            continue;
        size_t k = 0;
        for (; k < n && ids[k] != p[6]; k++)
            ;
        ids[k] = p[6];
        if (k == n)
            n++;
        /* 8-bit ASCII names only (type 11b); others are left unnamed. */
        unsigned sl = p[15] & 0x1f, m = 0;
        if ((p[15] >> 6) == 3)
            for (unsigned c = 0; c < sl && 16 + c < len && m < IPMI_SENSOR_NAME_MAX; c++)
                if (p[16 + c] >= 0x20 && p[16 + c] < 0x7f)
                    names[k][m++] = (char)p[16 + c];
        names[k][m] = '\0';
    }
    return n;
}

/* Reads one device's areas into b->fru: IPMI_ST_OK, or a status with err. */
static uint16_t read_device(struct bmc *b, ipmi_fru_ctx_t fc, uint8_t dev, const char *name,
                            char *err, size_t errn)
{
    int opened = ipmi_fru_open_device_id(fc, dev) == 0;
    if (!opened && ipmi_fru_ctx_errnum(fc) == IPMI_FRU_ERR_NO_FRU_INFORMATION)
        return IPMI_ST_OK; /* a device with nothing written in it: no areas */
    if (!opened) {
        snprintf(err, errn, "%s: FRU device %u: %s", b->cfg.name, (unsigned)dev,
                 ipmi_fru_ctx_errormsg(fc));
        return ipmi_fru_ctx_errnum(fc) == IPMI_FRU_ERR_IPMI_ERROR
                   ? status_of(ipmi_ctx_errnum(b->ctx))
                   : IPMI_ST_BMC_ERROR;
    }
    uint16_t st = IPMI_ST_OK;
    int more = ipmi_fru_first(fc);
    if (more == 0)
        more = 1;
    /* ipmi_fru_first: 0 positioned on the first area; next: 1 more. */
    for (int areas = 0; more == 1 && areas < 64; areas++) {
        uint8_t buf[IPMI_FRU_AREA_SIZE_MAX + 1];
        unsigned type = 0, len = 0;
        struct ipmi_fru f;
        if (ipmi_fru_read_data_area(fc, &type, &len, buf, IPMI_FRU_AREA_SIZE_MAX) == 0 &&
            len <= IPMI_FRU_AREA_SIZE_MAX && area(fc, type, buf, len, &f) == 0) {
            struct ipmi_fru *nf = realloc(b->fru, (b->nfru + 1) * sizeof(*nf));
            if (!nf) {
                snprintf(err, errn, "out of memory");
                st = IPMI_ST_INTERNAL;
                break;
            }
            f.device = dev;
            snprintf(f.locator, sizeof(f.locator), "%s", name);
            b->fru = nf;
            b->fru[b->nfru++] = f;
        }
        more = ipmi_fru_next(fc);
    }
    if (st == IPMI_ST_OK && more < 0) {
        snprintf(err, errn, "%s: reading FRU device %u: %s", b->cfg.name, (unsigned)dev,
                 ipmi_fru_ctx_errormsg(fc));
        st = IPMI_ST_BMC_ERROR;
    }
    ipmi_fru_close_device_id(fc);
    return st;
}

/* FRU: without FRU_DEVICE every device (fru_devices), read once per
 * session and answered from b->fru after; with it, that device, read
 * anew. */
void do_fru(struct bmc *b, const struct job *j)
{
    struct ipmi_rd r;
    struct ipmi_field fl;
    uint64_t dev = 0;
    int one = 0;
    ipmi_rd_init(&r, j->req, j->nreq);
    while (ipmi_rd_next(&r, &fl) == 1)
        if (fl.tag == IPMI_T_FRU_DEVICE) {
            if (ipmi_field_uint(&fl, &dev) != 0 || dev > 0xfe) {
                send_error(j->id, j->op, IPMI_ST_BAD_REQUEST, b->cfg.name, "bad FRU device id");
                return;
            }
            one = 1;
        }
    char err[512];
    uint16_t st = IPMI_ST_OK;
    struct ipmi_fru *saved = b->fru;
    size_t nsaved = b->nfru;
    if (one || !b->fru_valid) {
        ipmi_fru_ctx_t fc = ipmi_fru_ctx_create(b->ctx);
        if (!fc) {
            send_error(j->id, j->op, IPMI_ST_INTERNAL, b->cfg.name, "out of memory");
            return;
        }
        uint8_t ids[MAX_FRU_DEVICES];
        char names[MAX_FRU_DEVICES][IPMI_SENSOR_NAME_MAX + 1];
        size_t n = one ? 1 : fru_devices(b, ids, names);
        if (one) {
            ids[0] = (uint8_t)dev;
            names[0][0] = '\0';
        }
        b->fru = NULL;
        b->nfru = 0;
        for (size_t i = 0; i < n && st == IPMI_ST_OK; i++) {
            st = read_device(b, fc, ids[i], names[i], err, sizeof(err));
            /* A locator naming a device the BMC refuses to read costs that
             * device, not the inventory; a lost session fails the whole. */
            if (st == IPMI_ST_BMC_ERROR && ids[i] != 0 && !one) {
                logline("event=ipmi-fru-skipped bmc=%s device=%u reason=\"%s\"", b->cfg.name,
                        (unsigned)ids[i], err);
                st = IPMI_ST_OK;
            }
        }
        ipmi_fru_ctx_destroy(fc);
        if (st != IPMI_ST_OK) {
            logline("event=ipmi-bmc-error bmc=%s reason=\"%s\"", b->cfg.name, err);
            send_error(j->id, j->op, st, b->cfg.name, err);
            free(b->fru);
            b->fru = saved;
            b->nfru = nsaved;
            return;
        }
        b->last_ok = now_ms();
    }
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, j->id, IPMI_OP_FRU | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    for (size_t i = 0; i < b->nfru; i++)
        ipmi_fru_encode(&w, &b->fru[i]);
    send_frame(&w);
    ipmiw_free(&w);
    if (one) { /* one device: the session's list stays as it was */
        free(b->fru);
        b->fru = saved;
        b->nfru = nsaved;
    } else if (!b->fru_valid) {
        free(saved);
        b->fru_valid = 1;
        logline("event=ipmi-fru-read bmc=%s areas=%zu", b->cfg.name, b->nfru);
    }
}
