/* Between the files of the service family: service.c (classes,
 * enumeration, get), svcunit.c (units read from systemd over D-Bus, and
 * instances filled from them) and svcmethod.c (the methods). */
#ifndef WSMD_PROVIDERS_SERVICE_PRIV_H
#define WSMD_PROVIDERS_SERVICE_PRIV_H

#include <systemd/sd-bus.h>

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

struct unit {
    char *id, *description, *load_state, *active_state, *file_state;
    char *result, *user, *path_name;
    int can_start, can_stop;
    uint32_t main_pid;
    int32_t exit_status;
};

int svc__systemd_running(void);
int svc__bus_open(sd_bus **bus);
void svc__unit_clear(struct unit *u);
/* Reads unit id ("X.service"). 0, or a negative errno (with err set for
 * D-Bus errors). Units that do not exist come back with load_state
 * "not-found". Touching an unloaded unit's object loads it, as
 * "systemctl show" does. */
int svc__unit_read(sd_bus *bus, const char *id, struct unit *u, sd_bus_error *err);
int svc__is_state(const struct unit *u, const char *s);
int svc__is_running(const struct unit *u);
int svc__is_masked(const struct unit *u);
void svc__fill(const struct unit *u, const char *host, struct cim_instance *inst);
/* Characters of a unit name (unit_name_is_valid's set), ".service" added. */
int svc__unit_id(const char *name, char *id, size_t cap);
const char *svc__find_pair(const struct wsm_pair *v, size_t n, const char *name);
enum wsm_err svc__invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                         const struct cim_instance *target, const struct wsm_pair *in, size_t nin,
                         struct cim_val *out, struct wsm_arena *out_arena);

#endif
