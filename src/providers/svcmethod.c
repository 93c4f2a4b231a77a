/* The service family, methods: StartService, StopService, PauseService,
 * ResumeService and ChangeStartMode as systemd jobs and unit-file calls,
 * only for a caller who may manage units; systemd's errors as WMI's
 * return values. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "sdbus_dl.h"

#include "cim.h"
#include "service_priv.h"

/* ---- methods ------------------------------------------------------------------ */

static unsigned error_rv(int r, const sd_bus_error *err)
{
    static const struct {
        const char *name;
        unsigned rv;
    } map[] = {
        {"org.freedesktop.DBus.Error.AccessDenied", RV_ACCESS_DENIED},
        {"org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", RV_ACCESS_DENIED},
        {"org.freedesktop.systemd1.InteractiveAuthorizationRequired", RV_ACCESS_DENIED},
        {"org.freedesktop.DBus.Error.NoReply", RV_TIMEOUT},
        {"org.freedesktop.DBus.Error.Timeout", RV_TIMEOUT},
        {"org.freedesktop.systemd1.NoSuchUnit", RV_PATH_NOT_FOUND},
        {"org.freedesktop.systemd1.LoadFailed", RV_PATH_NOT_FOUND},
        {"org.freedesktop.DBus.Error.FileNotFound", RV_PATH_NOT_FOUND},
        {"org.freedesktop.systemd1.UnitMasked", RV_DISABLED},
        {"org.freedesktop.systemd1.OnlyByDependency", RV_CANNOT_ACCEPT},
        {"org.freedesktop.systemd1.JobTypeNotApplicable", RV_CANNOT_ACCEPT},
        {"org.freedesktop.systemd1.TransactionIsDestructive", RV_CANNOT_ACCEPT},
        {"org.freedesktop.systemd1.TransactionJobsConflicting", RV_CANNOT_ACCEPT},
        {"org.freedesktop.systemd1.UnitGenerated", RV_NOT_SUPPORTED},
        {"org.freedesktop.systemd1.UnitLinked", RV_NOT_SUPPORTED},
    };
    for (size_t i = 0; i < N(map); i++)
        if (sd_bus_error_has_name(err, map[i].name))
            return map[i].rv;
    if (r == -ETIMEDOUT)
        return RV_TIMEOUT;
    if (r == -EACCES || r == -EPERM)
        return RV_ACCESS_DENIED;
    return RV_UNKNOWN;
}

/* Starting, stopping and reconfiguring services is root's: the daemon as
 * root acts for a root caller only; a daemon not acting for another user
 * must be root itself (a non-root daemon would be refused by polkit
 * anyway, with no one to ask interactively). */
static int may_manage(const struct cim_ctx *ctx)
{
    return ctx->switch_user ? ctx->uid == 0 : geteuid() == 0;
}

static unsigned call_job(sd_bus *bus, const char *method, const char *id)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MGR, method, &err, &reply, "ss", id,
                               "replace");
    unsigned rv = r < 0 ? error_rv(r, &err) : RV_OK;
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    return rv;
}

/* A unit-file call taking (as files[, b runtime][, b force]). */
static int call_files(sd_bus *bus, const char *method, const char *id, int with_force,
                      int *carries_install_info, sd_bus_error *err)
{
    sd_bus_message *m = NULL, *reply = NULL;
    int r = sd_bus_message_new_method_call(bus, &m, SD_DEST, SD_PATH, SD_MGR, method);
    if (r >= 0)
        r = sd_bus_message_append_strv(m, (char *[]){(char *)id, NULL});
    if (r >= 0)
        r = sd_bus_message_append(m, "b", 0); /* runtime */
    if (r >= 0 && with_force)
        r = sd_bus_message_append(m, "b", 0); /* force */
    if (r >= 0)
        r = sd_bus_call(bus, m, 0, err, &reply);
    if (r >= 0 && carries_install_info) {
        int b = 1;
        if (sd_bus_message_read(reply, "b", &b) >= 0)
            *carries_install_info = b;
    }
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return r;
}

static unsigned change_mode(sd_bus *bus, const struct unit *u, const char *mode)
{
    enum { AUTO, MANUAL, DISABLED } want;
    if (!mode)
        return RV_INVALID_PARAM;
    if (!strcasecmp(mode, "Automatic") || !strcasecmp(mode, "Auto"))
        want = AUTO;
    else if (!strcasecmp(mode, "Manual"))
        want = MANUAL;
    else if (!strcasecmp(mode, "Disabled"))
        want = DISABLED;
    else
        return RV_INVALID_PARAM; /* Boot and System are for drivers */

    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = 0, install_info = 1;
    if (svc__is_masked(u) && want != DISABLED)
        r = call_files(bus, "UnmaskUnitFiles", u->id, 0, NULL, &err);
    if (r >= 0 && want == AUTO)
        r = call_files(bus, "EnableUnitFiles", u->id, 1, &install_info, &err);
    if (r >= 0 && want != AUTO)
        r = call_files(bus, "DisableUnitFiles", u->id, 0, NULL, &err);
    if (r >= 0 && want == DISABLED && !svc__is_masked(u))
        r = call_files(bus, "MaskUnitFiles", u->id, 1, NULL, &err);
    unsigned rv = r < 0 ? error_rv(r, &err) : RV_OK;
    sd_bus_error_free(&err);
    if (r >= 0) {
        /* As systemctl does after changing unit files. */
        sd_bus_message *reply = NULL;
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MGR, "Reload", &err, &reply, "");
        if (r < 0)
            rv = error_rv(r, &err);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&err);
    }
    /* A unit without an [Install] section cannot start at boot. */
    if (rv == RV_OK && !install_info)
        rv = RV_NOT_SUPPORTED;
    return rv;
}

/* Runs method m on unit id; its return code in *rv. WSM_ERR_NOT_FOUND
 * when the unit is gone. */
static enum wsm_err run_method(const struct cim_ctx *ctx, const struct cim_method *m,
                               const char *id, const struct wsm_pair *in, size_t nin, unsigned *rv)
{
    if (!strcmp(m->name, "PauseService") || !strcmp(m->name, "ResumeService")) {
        *rv = RV_NOT_SUPPORTED; /* systemd services do not pause */
        return WSM_OK;
    }
    if (!may_manage(ctx)) {
        *rv = RV_ACCESS_DENIED;
        return WSM_OK;
    }
    sd_bus *bus;
    if (svc__bus_open(&bus) < 0) {
        *rv = RV_UNKNOWN;
        return WSM_OK;
    }
    struct unit u;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = svc__unit_read(bus, id, &u, &err);
    sd_bus_error_free(&err);
    enum wsm_err e = WSM_OK;
    if (r < 0 || !u.load_state || !strcmp(u.load_state, "not-found"))
        e = r == -ENOMEM ? WSM_ERR_NOMEM : WSM_ERR_NOT_FOUND;
    else if (!strcmp(m->name, "StartService")) {
        if (svc__is_running(&u) || svc__is_state(&u, "activating"))
            *rv = RV_ALREADY_RUNNING;
        else if (svc__is_masked(&u))
            *rv = RV_DISABLED;
        else if (!u.can_start)
            *rv = RV_CANNOT_ACCEPT; /* RefuseManualStart= */
        else
            *rv = call_job(bus, "StartUnit", id);
    } else if (!strcmp(m->name, "StopService")) {
        if (!svc__is_running(&u) && !svc__is_state(&u, "activating"))
            *rv = RV_NOT_ACTIVE;
        else if (!u.can_stop)
            *rv = RV_CANNOT_ACCEPT; /* RefuseManualStop= */
        else
            *rv = call_job(bus, "StopUnit", id);
    } else if (!strcmp(m->name, "ChangeStartMode")) {
        *rv = change_mode(bus, &u, svc__find_pair(in, nin, "StartMode"));
    } else {
        *rv = RV_NOT_SUPPORTED;
    }
    svc__unit_clear(&u);
    sd_bus_flush_close_unref(bus);
    return e;
}

enum wsm_err svc__invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                         const struct cim_instance *target, const struct wsm_pair *in, size_t nin,
                         struct cim_val *out, struct wsm_arena *out_arena)
{
    if (!svc__systemd_running())
        return WSM_ERR_UNSUPPORTED_FEATURE;
    char id[300];
    if (!target || svc__unit_id(cim_get(target, "Name"), id, sizeof(id)) < 0)
        return WSM_ERR_NOT_FOUND;
    unsigned rv = RV_UNKNOWN;
    enum wsm_err e = run_method(ctx, m, id, in, nin, &rv);
    if (e)
        return e;
    char buf[16];
    snprintf(buf, sizeof(buf), "%u", rv);
    for (size_t i = 0; i < m->nout; i++) {
        if (strcmp(m->out[i].name, "ReturnValue") == 0) {
            out[i].s = wsm__arena_strdup(out_arena, buf);
            return out[i].s ? WSM_OK : WSM_ERR_NOMEM;
        }
    }
    return WSM_ERR_INTERNAL;
}
