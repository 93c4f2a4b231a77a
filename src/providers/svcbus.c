/* Services as CIM classes: systemd's side. Whether systemd runs, the
 * system bus, and one unit's properties read through GetAll (the unit's
 * and its service's). service.c and svcmethods.c use them
 * (service_priv.h). */
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

int wsmd__svc_systemd_running(void)
{
    struct stat st;
    return lstat(WSMD_SYSTEMD_RUNDIR, &st) == 0 && S_ISDIR(st.st_mode);
}

int wsmd__svc_bus_open(sd_bus **bus)
{
    *bus = NULL;
    int r = sd_bus_open_system(bus);
    if (r < 0)
        return r;
    sd_bus_set_method_call_timeout(*bus, CALL_TIMEOUT_USEC);
    return 0;
}

void wsmd__svc_unit_clear(struct unit *u)
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
int wsmd__svc_unit_read(sd_bus *bus, const char *id, struct unit *u, sd_bus_error *err)
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
        wsmd__svc_unit_clear(u);
    return r < 0 ? r : 0;
}
