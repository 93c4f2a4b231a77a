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
#include "service_priv.h"

/* ---- class tables ---------------------------------------------------- */

static const struct cim_prop win32_props[] = {
    {"AcceptPause", CIM_BOOLEAN, CIM_VOLATILE},
    {"AcceptStop", CIM_BOOLEAN, CIM_VOLATILE},
    {"Caption", CIM_STRING, 0},
    {"CheckPoint", CIM_UINT32, CIM_VOLATILE},
    {"CreationClassName", CIM_STRING, 0},
    {"DelayedAutoStart", CIM_BOOLEAN, 0},
    {"Description", CIM_STRING, 0},
    {"DesktopInteract", CIM_BOOLEAN, 0},
    {"DisplayName", CIM_STRING, 0},
    {"ErrorControl", CIM_STRING, 0},
    {"ExitCode", CIM_UINT32, CIM_VOLATILE},
    {"InstallDate", CIM_DATETIME, 0},
    {"Name", CIM_STRING, CIM_KEY},
    {"PathName", CIM_STRING, 0},
    {"ProcessId", CIM_UINT32, CIM_VOLATILE},
    {"ServiceSpecificExitCode", CIM_UINT32, CIM_VOLATILE},
    {"ServiceType", CIM_STRING, 0},
    {"Started", CIM_BOOLEAN, CIM_VOLATILE},
    {"StartMode", CIM_STRING, CIM_WRITE}, /* Put: ChangeStartMode's work */
    {"StartName", CIM_STRING, 0},
    {"State", CIM_STRING, CIM_VOLATILE},
    {"Status", CIM_STRING, CIM_VOLATILE},
    {"SystemCreationClassName", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"TagId", CIM_UINT32, 0},
    {"WaitHint", CIM_UINT32, CIM_VOLATILE},
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

const struct cim_method wsmd__svc_win32_methods[] = {
    {"StartService", 0, NULL, 0, rv_out, N(rv_out)},
    {"StopService", 0, NULL, 0, rv_out, N(rv_out)},
    {"PauseService", 0, NULL, 0, rv_out, N(rv_out)},
    {"ResumeService", 0, NULL, 0, rv_out, N(rv_out)},
    {"ChangeStartMode", 0, mode_in, N(mode_in), rv_out, N(rv_out)},
};

const size_t wsmd__svc_nwin32_methods = N(wsmd__svc_win32_methods);

static const struct cim_method cim_methods[] = {
    {"StartService", 0, NULL, 0, rv_out, N(rv_out)},
    {"StopService", 0, NULL, 0, rv_out, N(rv_out)},
};

static enum wsm_err svc_open(const struct cim_ctx *ctx, void **it);
static enum wsm_err svc_next(void *it, struct cim_instance *inst);
static void svc_close(void *it);
static enum wsm_err svc_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t nkeys,
                            struct cim_instance *inst);
static const struct cim_class win32_service = {
    .name = "Win32_Service",
    .props = win32_props,
    .nprops = N(win32_props),
    .methods = wsmd__svc_win32_methods,
    .nmethods = N(wsmd__svc_win32_methods),
    .open = svc_open,
    .next = svc_next,
    .close = svc_close,
    .get = svc_get,
    .invoke = wsmd__svc_invoke,
    .put = wsmd__svc_put,
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
    .invoke = wsmd__svc_invoke,
};

const struct cim_class *const cim_family_service[] = {&win32_service, &cim_service, NULL};

/* ---- filling instances -------------------------------------------------- */

int wsmd__svc_is_state(const struct unit *u, const char *s)
{
    return u->active_state && strcmp(u->active_state, s) == 0;
}

int wsmd__svc_is_running(const struct unit *u)
{
    return wsmd__svc_is_state(u, "active") || wsmd__svc_is_state(u, "reloading") ||
           wsmd__svc_is_state(u, "refreshing");
}

int wsmd__svc_is_masked(const struct unit *u)
{
    return (u->load_state && strcmp(u->load_state, "masked") == 0) ||
           (u->file_state && strncmp(u->file_state, "masked", 6) == 0);
}

/* WMI's StartMode: enabled units start at boot ("Auto"), masked ones
 * cannot start ("Disabled"); disabled, static, indirect, generated... can
 * be started by hand or as a dependency ("Manual"). */
static const char *start_mode(const struct unit *u)
{
    if (wsmd__svc_is_masked(u))
        return "Disabled";
    if (u->file_state &&
        (!strcmp(u->file_state, "enabled") || !strcmp(u->file_state, "enabled-runtime")))
        return "Auto";
    return "Manual";
}

static const char *wmi_state(const struct unit *u)
{
    if (wsmd__svc_is_running(u))
        return "Running";
    if (wsmd__svc_is_state(u, "activating"))
        return "Start Pending";
    if (wsmd__svc_is_state(u, "deactivating"))
        return "Stop Pending";
    if (wsmd__svc_is_state(u, "inactive") || wsmd__svc_is_state(u, "failed") ||
        wsmd__svc_is_state(u, "maintenance"))
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
    int failed = wsmd__svc_is_state(u, "failed");
    cim_set_str(inst, "Name", name);
    cim_set_str(inst, "Caption", desc);
    cim_set_str(inst, "Description", desc);
    cim_set_bool(inst, "Started", wsmd__svc_is_running(u));
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
                     u->can_stop &&
                         (wsmd__svc_is_running(u) || wsmd__svc_is_state(u, "activating")));
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
        if (wsmd__svc_is_running(u))
            en = 2, op = 2, st = "OK"; /* Enabled, OK */
        else if (failed)
            en = 3, op = 6, st = "Error"; /* Disabled, Error */
        else if (wsmd__svc_is_state(u, "inactive") || wsmd__svc_is_state(u, "maintenance"))
            en = 3, op = 10, st = "Stopped"; /* Disabled, Stopped */
        else if (wsmd__svc_is_state(u, "activating"))
            en = 10, op = 8, st = "Starting"; /* Starting, Starting */
        else if (wsmd__svc_is_state(u, "deactivating"))
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
    if (!wsmd__svc_systemd_running())
        return WSM_OK; /* no services to show */
    struct svc_iter *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    cim_system_name(s->host, sizeof(s->host));
    int r = wsmd__svc_bus_open(&s->bus);
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
        int r = wsmd__svc_unit_read(s->bus, id, &u, &err);
        sd_bus_error_free(&err);
        if (r < 0 && cim_errno_shortage(-r))
            return cim_errno_shortage(-r); /* not "gone": the daemon is short of memory/fds */
        /* Gone meanwhile, only referenced (not-found), or an alias of a
         * unit that shows under its own name: skip. */
        int show = r >= 0 && u.id && !strcmp(u.id, id) && u.load_state &&
                   strcmp(u.load_state, "not-found") != 0;
        if (show)
            fill(&u, s->host, inst);
        wsmd__svc_unit_clear(&u);
        if (show)
            return WSM_OK;
    }
    return WSM_ERR_NOT_FOUND;
}

/* ---- get -------------------------------------------------------------------- */

/* Characters of a unit name (unit_name_is_valid's set), ".service" added. */
int wsmd__svc_unit_id(const char *name, char *id, size_t cap)
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

const char *wsmd__svc_find_pair(const struct wsm_pair *v, size_t n, const char *name)
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
    if (!wsmd__svc_systemd_running())
        return WSM_ERR_UNSUPPORTED_FEATURE;
    char id[300];
    if (wsmd__svc_unit_id(wsmd__svc_find_pair(keys, nkeys, "Name"), id, sizeof(id)) < 0)
        return WSM_ERR_NOT_FOUND;
    sd_bus *bus;
    if (wsmd__svc_bus_open(&bus) < 0)
        return WSM_ERR_INTERNAL;
    struct unit u;
    sd_bus_error err = SD_BUS_ERROR_NULL;
    int r = wsmd__svc_unit_read(bus, id, &u, &err);
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
    wsmd__svc_unit_clear(&u);
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
