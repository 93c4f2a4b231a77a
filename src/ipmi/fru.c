/* wsmd-ipmi: the FRU inventory (IPMI Platform Management FRU Information
 * Storage Definition 1.0): the chassis, board and product areas of a FRU
 * device, through FreeIPMI's FRU reader (the same as ipmi-fru's, so the
 * test oracle and wsmd agree on 6-bit and BCD+ text).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors (see wsmd-ipmi.c and COPYING) */
#include <stdio.h>
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

void do_fru(struct bmc *b, const struct job *j)
{
    struct ipmi_rd r;
    struct ipmi_field fl;
    uint64_t dev = 0;
    ipmi_rd_init(&r, j->req, j->nreq);
    while (ipmi_rd_next(&r, &fl) == 1)
        if (fl.tag == IPMI_T_FRU_DEVICE && (ipmi_field_uint(&fl, &dev) != 0 || dev > 0xfe)) {
            send_error(j->id, j->op, IPMI_ST_BAD_REQUEST, b->cfg.name, "bad FRU device id");
            return;
        }
    char err[512];
    ipmi_fru_ctx_t fc = ipmi_fru_ctx_create(b->ctx);
    if (!fc) {
        send_error(j->id, j->op, IPMI_ST_INTERNAL, b->cfg.name, "out of memory");
        return;
    }
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, j->id, IPMI_OP_FRU | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    uint16_t st = IPMI_ST_OK;
    int opened = ipmi_fru_open_device_id(fc, (uint8_t)dev) == 0;
    if (!opened && ipmi_fru_ctx_errnum(fc) == IPMI_FRU_ERR_NO_FRU_INFORMATION) {
        /* A device with nothing written in it: no areas, not an error. */
    } else if (!opened) {
        snprintf(err, sizeof(err), "%s: FRU device %u: %s", b->cfg.name, (unsigned)dev,
                 ipmi_fru_ctx_errormsg(fc));
        st = ipmi_fru_ctx_errnum(fc) == IPMI_FRU_ERR_IPMI_ERROR ? status_of(ipmi_ctx_errnum(b->ctx))
                                                                : IPMI_ST_BMC_ERROR;
    } else {
        int more = ipmi_fru_first(fc);
        if (more == 0)
            more = 1;
        /* ipmi_fru_first: 0 positioned on the first area; next: 1 more. */
        for (int areas = 0; more == 1 && areas < 64; areas++) {
            uint8_t buf[IPMI_FRU_AREA_SIZE_MAX + 1];
            unsigned type = 0, len = 0;
            struct ipmi_fru f;
            if (ipmi_fru_read_data_area(fc, &type, &len, buf, IPMI_FRU_AREA_SIZE_MAX) == 0 &&
                len <= IPMI_FRU_AREA_SIZE_MAX && area(fc, type, buf, len, &f) == 0)
                ipmi_fru_encode(&w, &f);
            more = ipmi_fru_next(fc);
        }
        if (more < 0) {
            snprintf(err, sizeof(err), "%s: reading FRU device %u: %s", b->cfg.name, (unsigned)dev,
                     ipmi_fru_ctx_errormsg(fc));
            st = IPMI_ST_BMC_ERROR;
        }
        ipmi_fru_close_device_id(fc);
    }
    ipmi_fru_ctx_destroy(fc);
    if (st != IPMI_ST_OK) {
        logline("event=ipmi-bmc-error bmc=%s reason=\"%s\"", b->cfg.name, err);
        send_error(j->id, j->op, st, b->cfg.name, err);
    } else {
        b->last_ok = now_ms();
        send_frame(&w);
    }
    ipmiw_free(&w);
}
