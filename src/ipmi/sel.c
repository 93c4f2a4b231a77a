/* wsmd-ipmi: the System Event Log of one BMC: read (and kept while unchanged) and
 * cleared.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors (see wsmd-ipmi.c and COPYING) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

/* ---- the SEL ------------------------------------------------------------ */

static int sel_info(struct bmc *b, uint16_t *entries, uint16_t *free_space, uint32_t *added,
                    uint32_t *erased)
{
    fiid_obj_t rs = fiid_obj_create(tmpl_cmd_get_sel_info_rs);
    uint64_t v[4] = {0};
    int rc = -1;
    if (rs && ipmi_cmd_get_sel_info(b->ctx, rs) == 0 && FIID_OBJ_GET(rs, "entries", &v[0]) >= 0 &&
        FIID_OBJ_GET(rs, "free_space", &v[1]) >= 0 &&
        FIID_OBJ_GET(rs, "most_recent_addition_timestamp", &v[2]) >= 0 &&
        FIID_OBJ_GET(rs, "most_recent_erase_timestamp", &v[3]) >= 0) {
        *entries = (uint16_t)v[0];
        *free_space = (uint16_t)v[1];
        *added = (uint32_t)v[2];
        *erased = (uint32_t)v[3];
        rc = 0;
    }
    fiid_obj_destroy(rs);
    return rc;
}

static int read_sel(struct bmc *b, char *err, size_t errn)
{
    ipmi_sel_ctx_t sel = ipmi_sel_ctx_create(b->ctx, b->sdr);
    if (!sel) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    /* ipmi-sel's separator, so that the words are the same as its. */
    ipmi_sel_ctx_set_separator(sel, " ; ");
    free(b->sel);
    b->sel = NULL;
    b->nsel = 0;
    b->sel_cut = 0;
    int rc = 0;
    if (ipmi_sel_parse(sel, IPMI_SEL_RECORD_ID_FIRST, IPMI_SEL_RECORD_ID_LAST, NULL, NULL) < 0) {
        snprintf(err, errn, "reading the SEL: %s",
                 ipmi_sel_ctx_errormsg(sel) ? ipmi_sel_ctx_errormsg(sel) : "error");
        rc = -1;
    } else {
        int n = ipmi_sel_parse_sel_entry_count(sel);
        if (n > IPMI_MAX_SEL)
            b->sel_cut = 1; /* the newest are kept */
        size_t cap = n > 0 ? (size_t)(n > IPMI_MAX_SEL ? IPMI_MAX_SEL : n) : 1;
        if (!(b->sel = calloc(cap, sizeof(*b->sel)))) {
            snprintf(err, errn, "out of memory");
            rc = -1;
        }
        int skip = n > IPMI_MAX_SEL ? n - IPMI_MAX_SEL : 0;
        for (int more = rc == 0 && n > 0 && ipmi_sel_parse_first(sel) == 0; more;
             more = ipmi_sel_parse_next(sel) == 1) {
            if (skip > 0) {
                skip--;
                continue;
            }
            if (b->nsel == cap)
                break;
            struct ipmi_sel_entry *e = &b->sel[b->nsel];
            if (ipmi_sel_parse_read_record(sel, e->raw, sizeof(e->raw)) != (int)sizeof(e->raw))
                continue;
            e->record_id = (uint16_t)(e->raw[0] | e->raw[1] << 8);
            unsigned fl = IPMI_SEL_STRING_FLAGS_DEFAULT;
            if (ipmi_sel_parse_read_record_string(sel, "%s", NULL, 0, e->sensor, sizeof(e->sensor),
                                                  fl) < 0)
                e->sensor[0] = '\0';
            if (ipmi_sel_parse_read_record_string(sel, "%T", NULL, 0, e->type, sizeof(e->type),
                                                  fl) < 0)
                e->type[0] = '\0';
            if (ipmi_sel_parse_read_record_string(sel, "%E", NULL, 0, e->event, sizeof(e->event),
                                                  fl) < 0)
                e->event[0] = '\0';
            b->nsel++;
        }
    }
    ipmi_sel_ctx_destroy(sel);
    return rc;
}

void do_sel(struct bmc *b, uint32_t id)
{
    char err[768];
    uint16_t entries = 0, free_space = 0;
    uint32_t added = 0, erased = 0;
    if (sel_info(b, &entries, &free_space, &added, &erased) != 0) {
        snprintf(err, sizeof(err), "Get SEL Info of %s: %s", b->cfg.name,
                 ipmi_ctx_errormsg(b->ctx));
        logline("event=ipmi-bmc-error bmc=%s reason=\"%s\"", b->cfg.name, err);
        close_session(b);
        set_state(b, IPMI_BMC_DOWN, err);
        send_error(id, IPMI_OP_SEL, IPMI_ST_UNREACHABLE, b->cfg.name, err);
        return;
    }
    if (!b->sel_valid || added != b->sel_added || erased != b->sel_erased ||
        (!b->sel_cut && entries != b->nsel)) {
        if (read_sel(b, err, sizeof(err)) != 0) {
            b->sel_valid = 0;
            send_error(id, IPMI_OP_SEL, IPMI_ST_BMC_ERROR, b->cfg.name, err);
            return;
        }
        b->sel_valid = 1;
        b->sel_added = added;
        b->sel_erased = erased;
    }
    b->last_ok = now_ms();
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, id, IPMI_OP_SEL | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    ipmiw_uint(&w, IPMI_T_SEL_ENTRIES, entries, 2);
    ipmiw_uint(&w, IPMI_T_SEL_FREE, free_space, 2);
    ipmiw_uint(&w, IPMI_T_SEL_ADDED, added, 4);
    ipmiw_uint(&w, IPMI_T_SEL_ERASED, erased, 4);
    if (b->sel_cut)
        ipmiw_uint(&w, IPMI_T_SEL_CUT, 1, 1);
    for (size_t i = 0; i < b->nsel; i++)
        ipmi_sel_encode(&w, &b->sel[i]);
    if (w.fail)
        send_error(id, IPMI_OP_SEL, IPMI_ST_INTERNAL, b->cfg.name, "the reply is too large");
    else
        send_frame(&w);
    ipmiw_free(&w);
}

/* Clear SEL (IPMI 2.0 s31.9): reserve, initiate the erase, then ask for
 * its status until it completes (a BMC may take a while). */
void do_sel_clear(struct bmc *b, uint32_t id)
{
    char err[768] = "";
    fiid_obj_t rs = fiid_obj_create(tmpl_cmd_reserve_sel_rs);
    fiid_obj_t cs = fiid_obj_create(tmpl_cmd_clear_sel_rs);
    uint64_t resv = 0, progress = 0;
    uint16_t st = IPMI_ST_OK;
    if (!rs || !cs) {
        snprintf(err, sizeof(err), "out of memory");
        st = IPMI_ST_INTERNAL;
    } else if (ipmi_cmd_reserve_sel(b->ctx, rs) < 0 ||
               FIID_OBJ_GET(rs, "reservation_id", &resv) < 0 ||
               ipmi_cmd_clear_sel(b->ctx, (uint16_t)resv, IPMI_SEL_CLEAR_OPERATION_INITIATE_ERASE,
                                  cs) < 0) {
        snprintf(err, sizeof(err), "clearing the SEL of %s: %s", b->cfg.name,
                 ipmi_ctx_errormsg(b->ctx));
        st = status_of(ipmi_ctx_errnum(b->ctx));
    } else {
        long long deadline = now_ms() + 10000;
        for (;;) {
            if (ipmi_cmd_clear_sel(b->ctx, (uint16_t)resv,
                                   IPMI_SEL_CLEAR_OPERATION_GET_ERASURE_STATUS, cs) < 0 ||
                FIID_OBJ_GET(cs, "erasure_progress", &progress) < 0) {
                snprintf(err, sizeof(err), "clearing the SEL of %s: %s", b->cfg.name,
                         ipmi_ctx_errormsg(b->ctx));
                st = status_of(ipmi_ctx_errnum(b->ctx));
                break;
            }
            if (progress != IPMI_SEL_CLEAR_ERASURE_IN_PROGRESS)
                break;
            if (now_ms() > deadline) {
                snprintf(err, sizeof(err), "the SEL of %s is still being erased after 10 s",
                         b->cfg.name);
                st = IPMI_ST_BMC_ERROR;
                break;
            }
            struct timespec d = {0, 50 * 1000 * 1000};
            nanosleep(&d, NULL);
        }
    }
    fiid_obj_destroy(rs);
    fiid_obj_destroy(cs);
    b->sel_valid = 0;
    if (st != IPMI_ST_OK) {
        logline("event=ipmi-bmc-error bmc=%s reason=\"%s\"", b->cfg.name, err);
        send_error(id, IPMI_OP_SEL_CLEAR, st, b->cfg.name, err);
        return;
    }
    b->last_ok = now_ms();
    logline("event=ipmi-sel-cleared bmc=%s", b->cfg.name);
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, id, IPMI_OP_SEL_CLEAR | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, b->cfg.name);
    send_frame(&w);
    ipmiw_free(&w);
}
