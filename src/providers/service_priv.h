/* Private to the service provider: what its files share. service.c has
 * the classes, filling, enumeration and get; svcbus.c reads systemd over
 * D-Bus; svcmethods.c has the methods and Put. */
#ifndef WSMD_PROVIDERS_SERVICE_PRIV_H
#define WSMD_PROVIDERS_SERVICE_PRIV_H

#include <stddef.h>
#include <stdint.h>

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

/* What we read of one unit. Strings are malloc'd (NULL if absent). */
struct unit {
    char *id, *description, *load_state, *active_state, *file_state;
    char *result, *user, *path_name;
    int can_start, can_stop;
    uint32_t main_pid;
    int32_t exit_status;
};

/* ---- systemd (svcbus.c) --------------------------------------------- */

/* Whether systemd runs here (sd_booted()'s test). */
int wsmd__svc_systemd_running(void);
/* The system bus, with the call timeout set; 0 or -errno. */
int wsmd__svc_bus_open(sd_bus **bus);
/* Frees the strings of u and zeroes it. */
void wsmd__svc_unit_clear(struct unit *u);
/* Unit id's properties into u; 0, or -errno with err set. */
int wsmd__svc_unit_read(sd_bus *bus, const char *id, struct unit *u, sd_bus_error *err);

/* ---- what the methods use of service.c ------------------------------ */

/* Win32_Service's methods (Put's StartMode runs ChangeStartMode). */
extern const struct cim_method wsmd__svc_win32_methods[];
extern const size_t wsmd__svc_nwin32_methods;

int wsmd__svc_is_state(const struct unit *u, const char *s);
int wsmd__svc_is_running(const struct unit *u);
int wsmd__svc_is_masked(const struct unit *u);
/* A service's Name into its unit id ("X" -> "X.service"); -1 if invalid. */
int wsmd__svc_unit_id(const char *name, char *id, size_t cap);
/* The value of the pair called name (any case), or NULL. */
const char *wsmd__svc_find_pair(const struct wsm_pair *v, size_t n, const char *name);

/* ---- methods (svcmethods.c) ----------------------------------------- */

enum wsm_err wsmd__svc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                              const struct cim_instance *target, const struct wsm_pair *in,
                              size_t nin, struct cim_val *out, struct wsm_arena *out_arena);
enum wsm_err wsmd__svc_put(const struct cim_ctx *ctx, struct cim_instance *target,
                           const struct wsm_pair *props, size_t nprops);

#endif
