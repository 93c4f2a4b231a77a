/* The service family, systemd: units read over D-Bus (sd-bus, loaded at
 * run time) and Win32_Service / CIM_Service instances filled from them. */
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

/* ---- systemd ---------------------------------------------------------- */

int svc__systemd_running(void)
{
    struct stat st;
    return lstat(WSMD_SYSTEMD_RUNDIR, &st) == 0 && S_ISDIR(st.st_mode);
}

int svc__bus_open(sd_bus **bus)
{
    *bus = NULL;
    int r = sd_bus_open_system(bus);
    if (r < 0)
        return r;
    sd_bus_set_method_call_timeout(*bus, CALL_TIMEOUT_USEC);
    return 0;
}

/* What we read of one unit. Strings are malloc'd (NULL if absent). */

void svc__unit_clear(struct unit *u)
{
    free(u->id);
    free(u->description);
    free(u->load_state);
    free(u->active_state);
    free(u->file_state);
    free(u->result);
    free(u->user);
    free(u->path_name);
    memset(u, 0, sizeof(*u));
}

/* A property of GetAll's answer that we keep: its name, its D-Bus type
 * ('s', 'b', 'u', 'i', or 'X' for ExecStart's a(sasbttttuii)) and where. */
struct want {
    const char *name;
    char type;
    void *dst;
};

/* ExecStart's first command, as "path arg1 arg2..." (argv[0] replaced by
 * the path, as Windows' PathName shows the image and its arguments). */
static int read_exec(sd_bus_message *m, char **dst)
{
    int r = sd_bus_message_enter_container(m, 'a', "(sasbttttuii)");
    if (r < 0)
        return r;
    int first = 1;
    while ((r = sd_bus_message_at_end(m, 0)) == 0) {
        if (!first) {
            if ((r = sd_bus_message_skip(m, "(sasbttttuii)")) < 0)
                return r;
            continue;
        }
        first = 0;
        const char *path, *arg;
        if ((r = sd_bus_message_enter_container(m, 'r', "sasbttttuii")) < 0 ||
            (r = sd_bus_message_read_basic(m, 's', &path)) < 0 ||
            (r = sd_bus_message_enter_container(m, 'a', "s")) < 0)
            return r;
        size_t len = strlen(path), cap = len + 1;
        char *s = malloc(cap);
        if (!s)
            return -ENOMEM;
        memcpy(s, path, len + 1);
        int idx = 0;
        while ((r = sd_bus_message_read_basic(m, 's', &arg)) > 0) {
            if (idx++ == 0)
                continue; /* argv[0] */
            size_t al = strlen(arg);
            char *n = realloc(s, cap + al + 1);
            if (!n) {
                free(s);
                return -ENOMEM;
            }
            s = n;
            s[len] = ' ';
            memcpy(s + len + 1, arg, al + 1);
            len += al + 1;
            cap += al + 1;
        }
        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0 ||
            (r = sd_bus_message_skip(m, "bttttuii")) < 0 ||
            (r = sd_bus_message_exit_container(m)) < 0) {
            free(s);
            return r;
        }
        free(*dst);
        *dst = s;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

static int read_variant(sd_bus_message *m, const struct want *w)
{
    static const char *const sig[] = {"s", "b", "u", "i", "a(sasbttttuii)"};
    static const char types[] = "sbuiX";
    const char *contents = NULL;
    int r = sd_bus_message_peek_type(m, NULL, &contents);
    if (r < 0)
        return r;
    const char *want_sig = sig[strchr(types, w->type) - types];
    if (!contents || strcmp(contents, want_sig) != 0)
        return sd_bus_message_skip(m, "v"); /* not what we expect: ignore */
    if ((r = sd_bus_message_enter_container(m, 'v', contents)) < 0)
        return r;
    switch (w->type) {
    case 's': {
        const char *s;
        if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
            return r;
        char **dst = w->dst;
        free(*dst);
        if (!(*dst = strdup(s)))
            return -ENOMEM;
        break;
    }
    case 'b':
        r = sd_bus_message_read_basic(m, 'b', w->dst);
        break;
    case 'u':
        r = sd_bus_message_read_basic(m, 'u', w->dst);
        break;
    case 'i':
        r = sd_bus_message_read_basic(m, 'i', w->dst);
        break;
    default:
        r = read_exec(m, w->dst);
        break;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

/* Properties.GetAll(iface) on path, keeping what w asks for. */
static int get_all(sd_bus *bus, const char *path, const char *iface, const struct want *w,
                   size_t nw, sd_bus_error *err)
{
    sd_bus_message *reply = NULL;
    int r = sd_bus_call_method(bus, SD_DEST, path, DBUS_PROPS, "GetAll", err, &reply, "s", iface);
    if (r < 0)
        return r;
    if ((r = sd_bus_message_enter_container(reply, 'a', "{sv}")) < 0)
        goto out;
    while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
        const char *name;
        if ((r = sd_bus_message_read_basic(reply, 's', &name)) < 0)
            goto out;
        size_t k = 0;
        while (k < nw && strcmp(w[k].name, name) != 0)
            k++;
        r = k < nw ? read_variant(reply, &w[k]) : sd_bus_message_skip(reply, "v");
        if (r < 0 || (r = sd_bus_message_exit_container(reply)) < 0)
            goto out;
    }
    if (r >= 0)
        r = sd_bus_message_exit_container(reply);
out:
    sd_bus_message_unref(reply);
    return r;
}

/* Reads unit id ("X.service"). 0, or a negative errno (with err set for
 * D-Bus errors). Units that do not exist come back with load_state
 * "not-found". Touching an unloaded unit's object loads it, as
 * "systemctl show" does. */
int svc__unit_read(sd_bus *bus, const char *id, struct unit *u, sd_bus_error *err)
{
    char *path = NULL;
    memset(u, 0, sizeof(*u));
    int r = sd_bus_path_encode(SD_UNIT_PREFIX, id, &path);
    if (r < 0)
        return r;
    const struct want uw[] = {
        {"Id", 's', &u->id},
        {"Description", 's', &u->description},
        {"LoadState", 's', &u->load_state},
        {"ActiveState", 's', &u->active_state},
        {"UnitFileState", 's', &u->file_state},
        {"CanStart", 'b', &u->can_start},
        {"CanStop", 'b', &u->can_stop},
    };
    const struct want sw[] = {
        {"MainPID", 'u', &u->main_pid},    {"ExecMainStatus", 'i', &u->exit_status},
        {"Result", 's', &u->result},       {"User", 's', &u->user},
        {"ExecStart", 'X', &u->path_name},
    };
    r = get_all(bus, path, SD_UNIT, uw, N(uw), err);
    if (r >= 0 && u->load_state && strcmp(u->load_state, "not-found") != 0) {
        /* Service details are extras: a unit without them still shows. */
        sd_bus_error e2 = SD_BUS_ERROR_NULL;
        (void)get_all(bus, path, SD_SVC, sw, N(sw), &e2);
        sd_bus_error_free(&e2);
    }
    free(path);
    if (r < 0)
        svc__unit_clear(u);
    return r < 0 ? r : 0;
}

/* ---- filling instances -------------------------------------------------- */

int svc__is_state(const struct unit *u, const char *s)
{
    return u->active_state && strcmp(u->active_state, s) == 0;
}

int svc__is_running(const struct unit *u)
{
    return svc__is_state(u, "active") || svc__is_state(u, "reloading") ||
           svc__is_state(u, "refreshing");
}

int svc__is_masked(const struct unit *u)
{
    return (u->load_state && strcmp(u->load_state, "masked") == 0) ||
           (u->file_state && strncmp(u->file_state, "masked", 6) == 0);
}

/* WMI's StartMode: enabled units start at boot ("Auto"), masked ones
 * cannot start ("Disabled"); disabled, static, indirect, generated... can
 * be started by hand or as a dependency ("Manual"). */
static const char *start_mode(const struct unit *u)
{
    if (svc__is_masked(u))
        return "Disabled";
    if (u->file_state &&
        (!strcmp(u->file_state, "enabled") || !strcmp(u->file_state, "enabled-runtime")))
        return "Auto";
    return "Manual";
}

static const char *wmi_state(const struct unit *u)
{
    if (svc__is_running(u))
        return "Running";
    if (svc__is_state(u, "activating"))
        return "Start Pending";
    if (svc__is_state(u, "deactivating"))
        return "Stop Pending";
    if (svc__is_state(u, "inactive") || svc__is_state(u, "failed") ||
        svc__is_state(u, "maintenance"))
        return "Stopped";
    return "Unknown";
}

/* The unit id without ".service". */
static void short_name(const char *id, char *buf, size_t cap)
{
    size_t n = strlen(id);
    if (n > 8 && strcmp(id + n - 8, ".service") == 0)
        n -= 8;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, id, n);
    buf[n] = '\0';
}

/* D-Bus strings are UTF-8 already; control characters XML 1.0 forbids
 * still have to go. */
static void clean_ctl(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
            *s = '?';
}

void svc__fill(const struct unit *u, const char *host, struct cim_instance *inst)
{
    char name[256];
    short_name(u->id, name, sizeof(name));
    clean_ctl(u->description);
    clean_ctl(u->path_name);
    const char *desc = u->description && u->description[0] ? u->description : name;
    int failed = svc__is_state(u, "failed");
    cim_set_str(inst, "Name", name);
    cim_set_str(inst, "Caption", desc);
    cim_set_str(inst, "Description", desc);
    cim_set_bool(inst, "Started", svc__is_running(u));
    cim_set_str(inst, "SystemName", host);

    if (!strcmp(inst->cls->name, "Win32_Service")) {
        cim_set_str(inst, "CreationClassName", "Win32_Service");
        cim_set_str(inst, "SystemCreationClassName", "Win32_ComputerSystem");
        cim_set_str(inst, "DisplayName", desc);
        cim_set_str(inst, "State", wmi_state(u));
        cim_set_str(inst, "Status", failed ? "Error" : "OK");
        cim_set_str(inst, "StartMode", start_mode(u));
        cim_set_bool(inst, "AcceptPause", 0);
        cim_set_bool(inst, "AcceptStop",
                     u->can_stop && (svc__is_running(u) || svc__is_state(u, "activating")));
        cim_set_bool(inst, "DelayedAutoStart", 0);
        cim_set_bool(inst, "DesktopInteract", 0);
        cim_set_str(inst, "ErrorControl", "Normal");
        cim_set_str(inst, "ServiceType", "Own Process");
        cim_set_str(inst, "PathName", u->path_name);
        cim_set_u64(inst, "ProcessId", u->main_pid);
        /* 1066: ERROR_SERVICE_SPECIFIC_ERROR, the code is in the other. */
        int bad = u->result && strcmp(u->result, "success") != 0;
        cim_set_u64(inst, "ExitCode", bad ? 1066 : 0);
        cim_set_u64(inst, "ServiceSpecificExitCode", (uint32_t)u->exit_status);
        cim_set_str(inst, "StartName", u->user && u->user[0] ? u->user : "root");
        cim_set_u64(inst, "CheckPoint", 0);
        cim_set_u64(inst, "WaitHint", 0);
        cim_set_u64(inst, "TagId", 0);
    } else {
        cim_set_str(inst, "CreationClassName", "CIM_Service");
        cim_set_str(inst, "SystemCreationClassName", "CIM_ComputerSystem");
        cim_set_str(inst, "ElementName", desc);
        /* DMTF's deprecated StartMode has only these two. */
        cim_set_str(inst, "StartMode", strcmp(start_mode(u), "Auto") ? "Manual" : "Automatic");
        unsigned en = 0, op = 0;
        const char *st = "Unknown";
        if (svc__is_running(u))
            en = 2, op = 2, st = "OK"; /* Enabled, OK */
        else if (failed)
            en = 3, op = 6, st = "Error"; /* Disabled, Error */
        else if (svc__is_state(u, "inactive") || svc__is_state(u, "maintenance"))
            en = 3, op = 10, st = "Stopped"; /* Disabled, Stopped */
        else if (svc__is_state(u, "activating"))
            en = 10, op = 8, st = "Starting"; /* Starting, Starting */
        else if (svc__is_state(u, "deactivating"))
            en = 4, op = 9, st = "Stopping"; /* Shutting Down, Stopping */
        cim_set_u64(inst, "EnabledState", en);
        char ops[8];
        snprintf(ops, sizeof(ops), "%u", op);
        const char *items[1] = {ops};
        cim_set_strv(inst, "OperationalStatus", items, 1);
        cim_set_str(inst, "Status", st);
    }
}
