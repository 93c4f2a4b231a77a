/* wsmd-ipmi: the local BMC, in-band through the kernel's device
 * (docs/internals/ipmi.md, "The in-band BMC").
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors (see wsmd-ipmi.c and COPYING)
 *
 * /dev/ipmi0 is root's, and the helper runs as the network process's
 * account: so it is started as root when a local BMC is configured, opens
 * the device right after the CONFIG frame (the monitor's), then takes the
 * account itself (--drop) before it reads anything else. The device has
 * no session: it is kept open, never re-opened (the helper could not). */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <freeipmi/freeipmi.h>

#include "helper.h"

/* The local BMCs' devices, opened while the helper is still root (the
 * kernel's /dev/ipmi0 is root's); a failure is kept as the BMC's message
 * and makes its requests fail, not the helper. */
void open_inband(struct bmc *bmcs, size_t nbmcs)
{
    for (size_t i = 0; i < nbmcs; i++) {
        struct bmc *b = &bmcs[i];
        if (!b->cfg.inband)
            continue;
        if (!(b->ctx = ipmi_ctx_create())) {
            copy_msg(b->msg, sizeof(b->msg), "out of memory");
            continue;
        }
        if (ipmi_ctx_open_inband(b->ctx, IPMI_DEVICE_OPENIPMI, 0, 0, 0, b->cfg.host, 0,
                                 IPMI_FLAGS_DEFAULT) < 0) {
            copy_msg(b->msg, sizeof(b->msg), ipmi_ctx_errormsg(b->ctx));
            logline("event=ipmi-inband-error bmc=%s device=%s reason=\"%s\"", b->cfg.name,
                    b->cfg.host, b->msg);
            ipmi_ctx_destroy(b->ctx);
            b->ctx = NULL;
            b->state = IPMI_BMC_DOWN;
        }
    }
}

/* --drop UID GID: the account to take once the devices are open. */
int drop_to(const char *u, const char *g, const char *dir)
{
    char *e1, *e2;
    unsigned long uid = strtoul(u, &e1, 10), gid = strtoul(g, &e2, 10);
    if (*e1 || *e2 || !*u || !*g || uid == 0)
        return -1;
    /* The SDR cache folder was made as root: it becomes the account's. */
    if (chown(dir, (uid_t)uid, (gid_t)gid) != 0)
        return -1;
    if (setgroups(0, NULL) != 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0 ||
        setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0 || setuid(0) == 0)
        return -1;
    return 0;
}

uint16_t ensure_inband(struct bmc *b, char *err, size_t errn)
{
    if (!b->ctx) {
        snprintf(err, errn, "the local BMC's device %s could not be opened: %s", b->cfg.host,
                 b->msg[0] ? b->msg : "unknown error");
        return IPMI_ST_UNREACHABLE;
    }
    if (!b->sread && !(b->sread = ipmi_sensor_read_ctx_create(b->ctx))) {
        snprintf(err, errn, "out of memory");
        return IPMI_ST_INTERNAL;
    }
    b->last_ok = now_ms();
    if (!b->recs) {
        if (load_sdr(b, err, errn) != 0)
            return IPMI_ST_BMC_ERROR;
        logline("event=ipmi-session-open bmc=%s host=%s sdr_records=%zu", b->cfg.name, b->cfg.host,
                b->nrecs);
    }
    return IPMI_ST_OK;
}
