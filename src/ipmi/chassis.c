/* wsmd-ipmi: the chassis (power state and control) and raw commands.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors (see wsmd-ipmi.c and COPYING)
 *
 * All three are one IPMI message each, sent as FreeIPMI's raw command so
 * that the BMC's completion code comes back as it is: a BMC that refuses
 * a power action (no chassis control wired, insufficient privilege) is
 * an answer for wsmd to report (RequestStateChange's ReturnValue, the raw
 * method's CompletionCode), not a failure of the session. */
#include <stdio.h>
#include <string.h>

#include "helper.h"

#define NETFN_CHASSIS 0x00
#define CMD_GET_CHASSIS_STATUS 0x01
#define CMD_CHASSIS_CONTROL 0x02

int bmc_cmd(struct bmc *b, uint8_t lun, uint8_t netfn, const uint8_t *rq, unsigned nrq, uint8_t *rs,
            unsigned nrs, uint16_t *st, char *err, size_t errn)
{
    int n = ipmi_cmd_raw(b->ctx, lun, netfn, rq, nrq, rs, nrs);
    if (n < 0) {
        int en = ipmi_ctx_errnum(b->ctx);
        snprintf(err, errn, "%s: %s", b->cfg.name, ipmi_ctx_errormsg(b->ctx));
        *st = status_of(en);
        if (*st == IPMI_ST_UNREACHABLE) {
            /* The session is gone: the next request opens a new one. */
            close_session(b);
            set_state(b, IPMI_BMC_DOWN, err);
        }
        return -1;
    }
    b->last_ok = now_ms();
    if (n < 2) {
        /* FreeIPMI gives the command byte and the completion code at least. */
        snprintf(err, errn, "%s: a response of %d bytes", b->cfg.name, n);
        *st = IPMI_ST_BMC_ERROR;
        return -1;
    }
    return n;
}

static void fail(struct bmc *b, const struct job *j, uint16_t st, const char *err)
{
    logline("event=ipmi-bmc-error bmc=%s reason=\"%s\"", b->cfg.name, err);
    send_error(j->id, j->op, st, b->cfg.name, err);
}

void do_chassis_status(struct bmc *b, const struct job *j)
{
    uint8_t rq[1] = {CMD_GET_CHASSIS_STATUS}, rs[16];
    char err[512];
    uint16_t st = IPMI_ST_OK;
    int n = bmc_cmd(b, 0, NETFN_CHASSIS, rq, sizeof(rq), rs, sizeof(rs), &st, err, sizeof(err));
    if (n < 0) {
        fail(b, j, st, err);
        return;
    }
    /* cmd, cc, current power state, last power event, misc. state. */
    if (rs[1] != 0 || n < 5) {
        snprintf(err, sizeof(err), "%s: Get Chassis Status: completion code %02Xh", b->cfg.name,
                 rs[1]);
        fail(b, j, IPMI_ST_BMC_ERROR, err);
        return;
    }
    struct ipmi_chassis c = {rs[2], rs[3], rs[4]};
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, j->id, IPMI_OP_CHASSIS_STATUS | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    ipmi_chassis_encode(&w, &c);
    send_frame(&w);
    ipmiw_free(&w);
}

/* The request's one integer field of tag, or -1 when absent or too wide. */
static int req_u8(const struct job *j, uint16_t tag)
{
    struct ipmi_rd r;
    struct ipmi_field f;
    uint64_t v;
    int got = -1;
    ipmi_rd_init(&r, j->req, j->nreq);
    while (ipmi_rd_next(&r, &f) == 1)
        if (f.tag == tag)
            got = ipmi_field_uint(&f, &v) == 0 && v <= 0xff ? (int)v : -1;
    return got;
}

static const char *const action_names[] = {"power-down", "power-up",   "power-cycle",
                                           "hard-reset", "diagnostic", "soft-shutdown"};

void do_chassis_control(struct bmc *b, const struct job *j)
{
    int action = req_u8(j, IPMI_T_ACTION);
    if (action < 0 || action > 5) {
        send_error(j->id, j->op, IPMI_ST_BAD_REQUEST, b->cfg.name, "no valid chassis action");
        return;
    }
    uint8_t rq[2] = {CMD_CHASSIS_CONTROL, (uint8_t)action}, rs[16];
    char err[512];
    uint16_t st = IPMI_ST_OK;
    int n = bmc_cmd(b, 0, NETFN_CHASSIS, rq, sizeof(rq), rs, sizeof(rs), &st, err, sizeof(err));
    if (n < 0) {
        fail(b, j, st, err);
        return;
    }
    /* One line per power action, whatever the BMC said: who asked is in
     * wsmd's own line for the request. */
    logline("event=ipmi-chassis-control bmc=%s action=%s cc=%02x", b->cfg.name,
            action_names[action], rs[1]);
    struct ipmi_raw r = {.cc = rs[1]};
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, j->id, IPMI_OP_CHASSIS_CONTROL | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    ipmi_raw_encode(&w, &r, 0);
    send_frame(&w);
    ipmiw_free(&w);
}

void do_raw(struct bmc *b, const struct job *j)
{
    struct ipmi_raw q;
    if (ipmi_raw_decode(j->req, j->nreq, &q, 1) != 0) {
        send_error(j->id, j->op, IPMI_ST_BAD_REQUEST, b->cfg.name,
                   "a raw request needs NetFn (0-63), LUN (0-3), a command and at most 255 "
                   "bytes of data");
        return;
    }
    uint8_t rq[1 + IPMI_RAW_MAX], rs[2 + IPMI_RAW_MAX + 16];
    rq[0] = q.cmd;
    memcpy(rq + 1, q.data, q.n);
    char err[512];
    uint16_t st = IPMI_ST_OK;
    int n = bmc_cmd(b, q.lun, q.netfn, rq, 1u + q.n, rs, sizeof(rs), &st, err, sizeof(err));
    if (n < 0) {
        fail(b, j, st, err);
        return;
    }
    logline("event=ipmi-raw bmc=%s netfn=%02x cmd=%02x cc=%02x", b->cfg.name, q.netfn, q.cmd,
            rs[1]);
    struct ipmi_raw r = {.cc = rs[1]};
    r.n = (uint16_t)(n - 2 > IPMI_RAW_MAX ? IPMI_RAW_MAX : n - 2);
    memcpy(r.data, rs + 2, r.n);
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, j->id, IPMI_OP_RAW | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    ipmi_raw_encode(&w, &r, 0);
    send_frame(&w);
    ipmiw_free(&w);
}
