/* Services as CIM classes: the methods of Win32_Service and CIM_Service
 * (StartService, StopService, ChangeStartMode...) as systemd jobs and
 * unit-file calls, and Put of StartMode. service.c has the classes and
 * dispatches here (service_priv.h). */
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

/* WMI's return codes for Win32_Service methods (CIM_Service's agree: 0
 * success, 1 not supported, anything else an error). */
enum {
    RV_OK = 0,
    RV_NOT_SUPPORTED = 1,
    RV_ACCESS_DENIED = 2,
    RV_CANNOT_ACCEPT = 5,
    RV_NOT_ACTIVE = 6,
    RV_TIMEOUT = 7,
    RV_UNKNOWN = 8,
    RV_PATH_NOT_FOUND = 9,
    RV_ALREADY_RUNNING = 10,
    RV_DISABLED = 14,
    RV_INVALID_PARAM = 21,
};

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
    if (wsmd__svc_is_masked(u) && want != DISABLED)
        r = call_files(bus, "UnmaskUnitFiles", u->id, 0, NULL, &err);
    if (r >= 0 && want == AUTO)
        r = call_files(bus, "EnableUnitFiles", u->id, 1, &install_info, &err);
    if (r >= 0 && want != AUTO)
        r = call_files(bus, "DisableUnitFiles", u->id, 0, NULL, &err);
    if (r >= 0 && want == DISABLED && !wsmd__svc_is_masked(u))
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
    if (wsmd__svc_bus_open(&bus) < 0) {
        *rv = RV_UNKNOWN;
        return WSM_OK;
    }
    struct unit u;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = wsmd__svc_unit_read(bus, id, &u, &err);
    sd_bus_error_free(&err);
    enum wsm_err e = WSM_OK;
    if (r < 0 || !u.load_state || !strcmp(u.load_state, "not-found"))
        e = r == -ENOMEM ? WSM_ERR_NOMEM : WSM_ERR_NOT_FOUND;
    else if (!strcmp(m->name, "StartService")) {
        if (wsmd__svc_is_running(&u) || wsmd__svc_is_state(&u, "activating"))
            *rv = RV_ALREADY_RUNNING;
        else if (wsmd__svc_is_masked(&u))
            *rv = RV_DISABLED;
        else if (!u.can_start)
            *rv = RV_CANNOT_ACCEPT; /* RefuseManualStart= */
        else
            *rv = call_job(bus, "StartUnit", id);
    } else if (!strcmp(m->name, "StopService")) {
        if (!wsmd__svc_is_running(&u) && !wsmd__svc_is_state(&u, "activating"))
            *rv = RV_NOT_ACTIVE;
        else if (!u.can_stop)
            *rv = RV_CANNOT_ACCEPT; /* RefuseManualStop= */
        else
            *rv = call_job(bus, "StopUnit", id);
    } else if (!strcmp(m->name, "ChangeStartMode")) {
        *rv = change_mode(bus, &u, wsmd__svc_find_pair(in, nin, "StartMode"));
    } else {
        *rv = RV_NOT_SUPPORTED;
    }
    wsmd__svc_unit_clear(&u);
    sd_bus_flush_close_unref(bus);
    return e;
}

enum wsm_err wsmd__svc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                              const struct cim_instance *target, const struct wsm_pair *in,
                              size_t nin, struct cim_val *out, struct wsm_arena *out_arena)
{
    if (!wsmd__svc_systemd_running())
        return WSM_ERR_UNSUPPORTED_FEATURE;
    char id[300];
    if (!target || wsmd__svc_unit_id(cim_get(target, "Name"), id, sizeof(id)) < 0)
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

/* Put of Win32_Service: StartMode is the one writable property, and
 * writing it does what ChangeStartMode does (enable, disable, mask
 * through systemd). The value is the one the class shows (Auto, Manual,
 * Disabled; Automatic too). A value equal to the current one changes
 * nothing and needs no right, so that an instance may be echoed back.
 * A refusal is a fault, as a failed Put is on Windows: the right (2)
 * w:AccessDenied, a value it cannot take (21) wxf:InvalidRepresentation,
 * no [Install] section for Auto (1) w:UnsupportedFeature. */
enum wsm_err wsmd__svc_put(const struct cim_ctx *ctx, struct cim_instance *target,
                           const struct wsm_pair *props, size_t nprops)
{
    const char *mode = wsmd__svc_find_pair(props, nprops, "StartMode");
    if (!mode)
        return WSM_OK;
    const char *shown = !strcasecmp(mode, "Auto") || !strcasecmp(mode, "Automatic") ? "Auto"
                        : !strcasecmp(mode, "Manual")                               ? "Manual"
                        : !strcasecmp(mode, "Disabled")                             ? "Disabled"
                                                                                    : NULL;
    if (!shown)
        return WSM_ERR_INVALID_REPRESENTATION; /* Boot and System are for drivers */
    const char *cur = cim_get(target, "StartMode");
    if (cur && !strcmp(cur, shown))
        return WSM_OK;
    if (!may_manage(ctx))
        return WSM_ERR_ACCESS_DENIED;
    if (!wsmd__svc_systemd_running())
        return WSM_ERR_UNSUPPORTED_FEATURE;
    char id[300];
    if (wsmd__svc_unit_id(cim_get(target, "Name"), id, sizeof(id)) < 0)
        return WSM_ERR_NOT_FOUND;
    const struct cim_method *m = NULL;
    for (size_t i = 0; i < wsmd__svc_nwin32_methods; i++)
        if (!strcmp(wsmd__svc_win32_methods[i].name, "ChangeStartMode"))
            m = &wsmd__svc_win32_methods[i];
    struct wsm_pair in = {"StartMode", shown};
    unsigned rv = RV_UNKNOWN;
    enum wsm_err e = m ? run_method(ctx, m, id, &in, 1, &rv) : WSM_ERR_INTERNAL;
    if (e)
        return e;
    switch (rv) {
    case RV_OK:
        cim_set_str(target, "StartMode", shown);
        return WSM_OK;
    case RV_ACCESS_DENIED:
        return WSM_ERR_ACCESS_DENIED;
    case RV_INVALID_PARAM:
        return WSM_ERR_INVALID_REPRESENTATION;
    case RV_NOT_SUPPORTED:
        return WSM_ERR_UNSUPPORTED_FEATURE;
    default:
        return WSM_ERR_INTERNAL;
    }
}
