/* Services as CIM classes: Win32_Service (WMI names) and CIM_Service
 * (DMTF names), from systemd's D-Bus API through sd-bus.
 *
 * A service is a systemd unit "X.service", named "X" (WMI's Name is the
 * service's short name). Without systemd (no /run/systemd/system, as in
 * containers and on CI) both classes are empty, and get and every method
 * answer WSM_ERR_UNSUPPORTED_FEATURE. Design notes:
 * docs/internals/providers-process-service.md. */
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

/* sd_booted()'s test. A build for tests against a mock systemd may point
 * it elsewhere (and DBUS_SYSTEM_BUS_ADDRESS at the mock's bus). */
#ifndef WSMD_SYSTEMD_RUNDIR
#define WSMD_SYSTEMD_RUNDIR "/run/systemd/system"
#endif

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MGR "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_SVC "org.freedesktop.systemd1.Service"
#define SD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"
#define DBUS_PROPS "org.freedesktop.DBus.Properties"
#define CALL_TIMEOUT_USEC (10ULL * 1000000ULL)

#define N(a) (sizeof(a) / sizeof((a)[0]))

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

/* ---- class tables ---------------------------------------------------- */

static const struct cim_prop win32_props[] = {
    {"AcceptPause", CIM_BOOLEAN, 0},
    {"AcceptStop", CIM_BOOLEAN, 0},
    {"Caption", CIM_STRING, 0},
    {"CheckPoint", CIM_UINT32, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"DelayedAutoStart", CIM_BOOLEAN, 0},
    {"Description", CIM_STRING, 0},
    {"DesktopInteract", CIM_BOOLEAN, 0},
    {"DisplayName", CIM_STRING, 0},
    {"ErrorControl", CIM_STRING, 0},
    {"ExitCode", CIM_UINT32, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"Name", CIM_STRING, CIM_KEY},
    {"PathName", CIM_STRING, 0},
    {"ProcessId", CIM_UINT32, 0},
    {"ServiceSpecificExitCode", CIM_UINT32, 0},
    {"ServiceType", CIM_STRING, 0},
    {"Started", CIM_BOOLEAN, 0},
    {"StartMode", CIM_STRING, 0},
    {"StartName", CIM_STRING, 0},
    {"State", CIM_STRING, 0},
    {"Status", CIM_STRING, 0},
    {"SystemCreationClassName", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"TagId", CIM_UINT32, 0},
    {"WaitHint", CIM_UINT32, 0},
};

static const struct cim_prop cim_props[] = {
    {"Caption", CIM_STRING, 0},          {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Description", CIM_STRING, 0},      {"ElementName", CIM_STRING, 0},
    {"EnabledState", CIM_UINT16, 0},     {"InstallDate", CIM_DATETIME, 0},
    {"Name", CIM_STRING, CIM_KEY},       {"OperationalStatus", CIM_UINT16, CIM_ARRAY},
    {"Started", CIM_BOOLEAN, 0},         {"StartMode", CIM_STRING, 0},
    {"Status", CIM_STRING, 0},           {"SystemCreationClassName", CIM_STRING, CIM_KEY},
    {"SystemName", CIM_STRING, CIM_KEY},
};

static const struct cim_prop rv_out[] = {{"ReturnValue", CIM_UINT32, 0}};
static const struct cim_prop mode_in[] = {{"StartMode", CIM_STRING, 0}};

static const struct cim_method win32_methods[] = {
    {"StartService", 0, NULL, 0, rv_out, N(rv_out)},
    {"StopService", 0, NULL, 0, rv_out, N(rv_out)},
    {"PauseService", 0, NULL, 0, rv_out, N(rv_out)},
    {"ResumeService", 0, NULL, 0, rv_out, N(rv_out)},
    {"ChangeStartMode", 0, mode_in, N(mode_in), rv_out, N(rv_out)},
};

static const struct cim_method cim_methods[] = {
    {"StartService", 0, NULL, 0, rv_out, N(rv_out)},
    {"StopService", 0, NULL, 0, rv_out, N(rv_out)},
};

static enum wsm_err svc_open(const struct cim_ctx *ctx, void **it);
static enum wsm_err svc_next(void *it, struct cim_instance *inst);
static void svc_close(void *it);
static enum wsm_err svc_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t nkeys,
                            struct cim_instance *inst);
static enum wsm_err svc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                               const struct cim_instance *target, const struct wsm_pair *in,
                               size_t nin, struct cim_val *out, struct wsm_arena *out_arena);

static const struct cim_class win32_service = {
    .name = "Win32_Service",
    .props = win32_props,
    .nprops = N(win32_props),
    .methods = win32_methods,
    .nmethods = N(win32_methods),
    .open = svc_open,
    .next = svc_next,
    .close = svc_close,
    .get = svc_get,
    .invoke = svc_invoke,
};

static const struct cim_class cim_service = {
    .name = "CIM_Service",
    .props = cim_props,
    .nprops = N(cim_props),
    .methods = cim_methods,
    .nmethods = N(cim_methods),
    .open = svc_open,
    .next = svc_next,
    .close = svc_close,
    .get = svc_get,
    .invoke = svc_invoke,
};

const struct cim_class *const cim_family_service[] = {&win32_service, &cim_service, NULL};

/* ---- systemd ---------------------------------------------------------- */

static int systemd_running(void)
{
    struct stat st;
    return lstat(WSMD_SYSTEMD_RUNDIR, &st) == 0 && S_ISDIR(st.st_mode);
}

static int bus_open(sd_bus **bus)
{
    *bus = NULL;
    int r = sd_bus_open_system(bus);
    if (r < 0)
        return r;
    sd_bus_set_method_call_timeout(*bus, CALL_TIMEOUT_USEC);
    return 0;
}

/* What we read of one unit. Strings are malloc'd (NULL if absent). */
struct unit {
    char *id, *description, *load_state, *active_state, *file_state;
    char *result, *user, *path_name;
    int can_start, can_stop;
    uint32_t main_pid;
    int32_t exit_status;
};

static void unit_clear(struct unit *u)
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
static int unit_read(sd_bus *bus, const char *id, struct unit *u, sd_bus_error *err)
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
        unit_clear(u);
    return r < 0 ? r : 0;
}

/* ---- filling instances -------------------------------------------------- */

static int is_state(const struct unit *u, const char *s)
{
    return u->active_state && strcmp(u->active_state, s) == 0;
}

static int is_running(const struct unit *u)
{
    return is_state(u, "active") || is_state(u, "reloading") || is_state(u, "refreshing");
}

static int is_masked(const struct unit *u)
{
    return (u->load_state && strcmp(u->load_state, "masked") == 0) ||
           (u->file_state && strncmp(u->file_state, "masked", 6) == 0);
}

/* WMI's StartMode: enabled units start at boot ("Auto"), masked ones
 * cannot start ("Disabled"); disabled, static, indirect, generated... can
 * be started by hand or as a dependency ("Manual"). */
static const char *start_mode(const struct unit *u)
{
    if (is_masked(u))
        return "Disabled";
    if (u->file_state &&
        (!strcmp(u->file_state, "enabled") || !strcmp(u->file_state, "enabled-runtime")))
        return "Auto";
    return "Manual";
}

static const char *wmi_state(const struct unit *u)
{
    if (is_running(u))
        return "Running";
    if (is_state(u, "activating"))
        return "Start Pending";
    if (is_state(u, "deactivating"))
        return "Stop Pending";
    if (is_state(u, "inactive") || is_state(u, "failed") || is_state(u, "maintenance"))
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

static void fill(const struct unit *u, const char *host, struct cim_instance *inst)
{
    char name[256];
    short_name(u->id, name, sizeof(name));
    clean_ctl(u->description);
    clean_ctl(u->path_name);
    const char *desc = u->description && u->description[0] ? u->description : name;
    int failed = is_state(u, "failed");
    cim_set_str(inst, "Name", name);
    cim_set_str(inst, "Caption", desc);
    cim_set_str(inst, "Description", desc);
    cim_set_bool(inst, "Started", is_running(u));
    cim_set_str(inst, "SystemName", host);

    if (inst->cls == &win32_service) {
        cim_set_str(inst, "CreationClassName", "Win32_Service");
        cim_set_str(inst, "SystemCreationClassName", "Win32_ComputerSystem");
        cim_set_str(inst, "DisplayName", desc);
        cim_set_str(inst, "State", wmi_state(u));
        cim_set_str(inst, "Status", failed ? "Error" : "OK");
        cim_set_str(inst, "StartMode", start_mode(u));
        cim_set_bool(inst, "AcceptPause", 0);
        cim_set_bool(inst, "AcceptStop",
                     u->can_stop && (is_running(u) || is_state(u, "activating")));
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
        if (is_running(u))
            en = 2, op = 2, st = "OK"; /* Enabled, OK */
        else if (failed)
            en = 3, op = 6, st = "Error"; /* Disabled, Error */
        else if (is_state(u, "inactive") || is_state(u, "maintenance"))
            en = 3, op = 10, st = "Stopped"; /* Disabled, Stopped */
        else if (is_state(u, "activating"))
            en = 10, op = 8, st = "Starting"; /* Starting, Starting */
        else if (is_state(u, "deactivating"))
            en = 4, op = 9, st = "Stopping"; /* Shutting Down, Stopping */
        cim_set_u64(inst, "EnabledState", en);
        char ops[8];
        snprintf(ops, sizeof(ops), "%u", op);
        const char *items[1] = {ops};
        cim_set_strv(inst, "OperationalStatus", items, 1);
        cim_set_str(inst, "Status", st);
    }
}

/* ---- enumeration ---------------------------------------------------------- */

struct svc_iter {
    sd_bus *bus;
    char **names; /* sorted unit ids */
    size_t n, cap, pos;
    char host[256];
};

static int add_name(struct svc_iter *s, const char *id)
{
    size_t l = strlen(id);
    if (l <= 8 || strcmp(id + l - 8, ".service") != 0)
        return 0;
    if (id[l - 9] == '@')
        return 0; /* a template, not a service until instantiated */
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        char **nv = realloc(s->names, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->names = nv;
        s->cap = nc;
    }
    if (!(s->names[s->n] = strdup(id)))
        return -ENOMEM;
    s->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The unit files (installed services, loaded or not) and the loaded
 * units (instances, transient and generated ones too). */
static int list_units(struct svc_iter *s)
{
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = sd_bus_call_method(s->bus, SD_DEST, SD_PATH, SD_MGR, "ListUnitFiles", &err, &reply, "");
    if (r >= 0 && (r = sd_bus_message_enter_container(reply, 'a', "(ss)")) >= 0) {
        const char *path, *state;
        while ((r = sd_bus_message_read(reply, "(ss)", &path, &state)) > 0) {
            const char *b = strrchr(path, '/');
            if ((r = add_name(s, b ? b + 1 : path)) < 0)
                break;
        }
    }
    reply = sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    if (r < 0)
        return r;
    r = sd_bus_call_method(s->bus, SD_DEST, SD_PATH, SD_MGR, "ListUnits", &err, &reply, "");
    if (r >= 0 && (r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)")) >= 0) {
        const char *id;
        while ((r = sd_bus_message_enter_container(reply, 'r', "ssssssouso")) > 0) {
            if ((r = sd_bus_message_read_basic(reply, 's', &id)) < 0 || (r = add_name(s, id)) < 0 ||
                (r = sd_bus_message_skip(reply, "sssssouso")) < 0 ||
                (r = sd_bus_message_exit_container(reply)) < 0)
                break;
        }
    }
    sd_bus_message_unref(reply);
    sd_bus_error_free(&err);
    if (r < 0)
        return r;
    if (s->n)
        qsort(s->names, s->n, sizeof(*s->names), cmp_str);
    return 0;
}

static void svc_close(void *it)
{
    struct svc_iter *s = it;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    sd_bus_flush_close_unref(s->bus);
    free(s);
}

static enum wsm_err svc_open(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    *it = NULL;
    if (!systemd_running())
        return WSM_OK; /* no services to show */
    struct svc_iter *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    cim_system_name(s->host, sizeof(s->host));
    int r = bus_open(&s->bus);
    if (r >= 0)
        r = list_units(s);
    if (r < 0) {
        svc_close(s);
        return r == -ENOMEM ? WSM_ERR_NOMEM : WSM_ERR_INTERNAL;
    }
    *it = s;
    return WSM_OK;
}

static enum wsm_err svc_next(void *it, struct cim_instance *inst)
{
    struct svc_iter *s = it;
    while (s && s->pos < s->n) {
        const char *id = s->names[s->pos++];
        if (s->pos > 1 && strcmp(id, s->names[s->pos - 2]) == 0)
            continue; /* listed as a file and as loaded */
        struct unit u;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int r = unit_read(s->bus, id, &u, &err);
        sd_bus_error_free(&err);
        if (r < 0 && cim_errno_shortage(-r))
            return cim_errno_shortage(-r); /* not "gone": the daemon is short of memory/fds */
        /* Gone meanwhile, only referenced (not-found), or an alias of a
         * unit that shows under its own name: skip. */
        int show = r >= 0 && u.id && !strcmp(u.id, id) && u.load_state &&
                   strcmp(u.load_state, "not-found") != 0;
        if (show)
            fill(&u, s->host, inst);
        unit_clear(&u);
        if (show)
            return WSM_OK;
    }
    return WSM_ERR_NOT_FOUND;
}

/* ---- get -------------------------------------------------------------------- */

/* Characters of a unit name (unit_name_is_valid's set), ".service" added. */
static int unit_id(const char *name, char *id, size_t cap)
{
    if (!name || !name[0] || strlen(name) + 9 > cap || strlen(name) + 8 > 255)
        return -1;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(":-_.\\@", c)))
            return -1;
    }
    size_t l = strlen(name);
    if (name[l - 1] == '@')
        return -1;
    snprintf(id, cap, "%s.service", name);
    return 0;
}

static const char *find_pair(const struct wsm_pair *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].name && strcasecmp(v[i].name, name) == 0)
            return v[i].value;
    return NULL;
}

static enum wsm_err svc_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t nkeys,
                            struct cim_instance *inst)
{
    (void)ctx;
    if (!systemd_running())
        return WSM_ERR_UNSUPPORTED_FEATURE;
    char id[300];
    if (unit_id(find_pair(keys, nkeys, "Name"), id, sizeof(id)) < 0)
        return WSM_ERR_NOT_FOUND;
    sd_bus *bus;
    if (bus_open(&bus) < 0)
        return WSM_ERR_INTERNAL;
    struct unit u;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = unit_read(bus, id, &u, &err);
    sd_bus_error_free(&err);
    sd_bus_flush_close_unref(bus);
    if (r == -ENOMEM)
        return WSM_ERR_NOMEM;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    if (r >= 0 && u.id && !strcmp(u.id, id) && u.load_state &&
        strcmp(u.load_state, "not-found") != 0) {
        char host[256];
        cim_system_name(host, sizeof(host));
        fill(&u, host, inst);
        e = WSM_OK;
    }
    unit_clear(&u);
    /* The other keys (SystemName, class names) must match too. */
    for (size_t i = 0; !e && i < nkeys; i++) {
        int k = cim_prop_index(inst->cls, keys[i].name);
        if (k < 0 || !(inst->cls->props[k].flags & CIM_KEY))
            continue;
        const char *v = inst->v[k].s;
        if (!v || !keys[i].value || strcasecmp(v, keys[i].value) != 0)
            e = WSM_ERR_NOT_FOUND;
    }
    return e;
}

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
    if (is_masked(u) && want != DISABLED)
        r = call_files(bus, "UnmaskUnitFiles", u->id, 0, NULL, &err);
    if (r >= 0 && want == AUTO)
        r = call_files(bus, "EnableUnitFiles", u->id, 1, &install_info, &err);
    if (r >= 0 && want != AUTO)
        r = call_files(bus, "DisableUnitFiles", u->id, 0, NULL, &err);
    if (r >= 0 && want == DISABLED && !is_masked(u))
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
    if (bus_open(&bus) < 0) {
        *rv = RV_UNKNOWN;
        return WSM_OK;
    }
    struct unit u;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = unit_read(bus, id, &u, &err);
    sd_bus_error_free(&err);
    enum wsm_err e = WSM_OK;
    if (r < 0 || !u.load_state || !strcmp(u.load_state, "not-found"))
        e = r == -ENOMEM ? WSM_ERR_NOMEM : WSM_ERR_NOT_FOUND;
    else if (!strcmp(m->name, "StartService")) {
        if (is_running(&u) || is_state(&u, "activating"))
            *rv = RV_ALREADY_RUNNING;
        else if (is_masked(&u))
            *rv = RV_DISABLED;
        else if (!u.can_start)
            *rv = RV_CANNOT_ACCEPT; /* RefuseManualStart= */
        else
            *rv = call_job(bus, "StartUnit", id);
    } else if (!strcmp(m->name, "StopService")) {
        if (!is_running(&u) && !is_state(&u, "activating"))
            *rv = RV_NOT_ACTIVE;
        else if (!u.can_stop)
            *rv = RV_CANNOT_ACCEPT; /* RefuseManualStop= */
        else
            *rv = call_job(bus, "StopUnit", id);
    } else if (!strcmp(m->name, "ChangeStartMode")) {
        *rv = change_mode(bus, &u, find_pair(in, nin, "StartMode"));
    } else {
        *rv = RV_NOT_SUPPORTED;
    }
    unit_clear(&u);
    sd_bus_flush_close_unref(bus);
    return e;
}

static enum wsm_err svc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                               const struct cim_instance *target, const struct wsm_pair *in,
                               size_t nin, struct cim_val *out, struct wsm_arena *out_arena)
{
    if (!systemd_running())
        return WSM_ERR_UNSUPPORTED_FEATURE;
    char id[300];
    if (!target || unit_id(cim_get(target, "Name"), id, sizeof(id)) < 0)
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
