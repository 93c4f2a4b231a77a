/* sensors: list the BMC sensors a wsmd serves (or a Windows host's IPMI
 * provider), with libwsm.
 *
 *   WSM_PASSWORD=secret sensors URL USER [BMC]
 *
 * for instance
 *
 *   WSM_PASSWORD=secret sensors http://127.0.0.1:5985 alice rack1
 *
 * prints one line per threshold sensor: its system (the BMC), its name,
 * its reading in its unit, and its state:
 *
 *   rack1  CPU Temp          75 C     Upper Non-Critical
 *
 * The reading is CurrentReading scaled by UnitModifier (CIM's rule:
 * value = CurrentReading * 10^UnitModifier, in BaseUnits). BMC limits the
 * enumeration to that BMC (a SystemName selector on the Enumerate, which
 * wsmd takes as the scope: the others are not asked).
 *
 * Only the public header is used: build it with
 *   cc sensors.c -lwsm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsm/wsm.h>

#define URI "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/NumericSensor"

/* The text of the item's property name ("" when absent or nil). Items are
 * single CIM instances, <p:Name>value</p:Name>, so a search is enough here;
 * a general client would use an XML parser. */
static void prop(const char *item, const char *name, char *out, size_t n)
{
    char open[80];
    snprintf(open, sizeof(open), ":%s>", name);
    out[0] = '\0';
    const char *p = strstr(item, open);
    if (!p)
        return;
    p += strlen(open);
    size_t k = 0;
    while (p[k] && p[k] != '<' && k + 1 < n) {
        out[k] = p[k];
        k++;
    }
    out[k] = '\0';
}

/* CIM BaseUnits (IPMI's unit + 1) of the usual sensors. */
static const char *unit_name(int base)
{
    switch (base) {
    case 2:
        return "C";
    case 3:
        return "F";
    case 5:
        return "V";
    case 6:
        return "A";
    case 7:
        return "W";
    case 19:
        return "RPM";
    case 65:
        return "%";
    default:
        return "";
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: WSM_PASSWORD=... %s URL USER [BMC]\n", argv[0]);
        return 2;
    }
    const char *password = getenv("WSM_PASSWORD");
    if (!password) {
        fprintf(stderr, "%s: set WSM_PASSWORD\n", argv[0]);
        return 2;
    }
    struct wsm_session_opts so = {
        .url = argv[1], .user = argv[2], .password = password, .auth = WSM_AUTH_BASIC};
    wsm_session *s = NULL;
    enum wsm_err e = wsm_session_new(&so, &s);
    if (e) {
        fprintf(stderr, "%s: %s\n", argv[0], wsm_strerror(e));
        return 1;
    }
    /* Only what is printed comes over the wire. */
    struct wsm_enum_opts eo = {
        .filter = ("select SystemName, ElementName, CurrentReading, UnitModifier, BaseUnits, "
                   "CurrentState from NumericSensor")};
    struct wsm_selector sel = {"SystemName", argc > 3 ? argv[3] : NULL};
    if (sel.value) {
        eo.selectors = &sel;
        eo.nselectors = 1;
    }
    wsm_enum *en = NULL;
    e = wsm_enumerate(s, URI, &eo, &en);
    if (e) {
        fprintf(stderr, "%s: %s\n", argv[0], wsm_session_error(s));
        wsm_session_free(s);
        return 1;
    }
    char *item = NULL;
    unsigned long n = 0;
    while ((e = wsm_enum_next(en, &item)) == WSM_OK) {
        char sys[80], name[80], reading[32], um[16], base[16], state[40];
        prop(item, "SystemName", sys, sizeof(sys));
        prop(item, "ElementName", name, sizeof(name));
        prop(item, "CurrentReading", reading, sizeof(reading));
        prop(item, "UnitModifier", um, sizeof(um));
        prop(item, "BaseUnits", base, sizeof(base));
        prop(item, "CurrentState", state, sizeof(state));
        free(item);
        char value[48] = "-";
        if (reading[0]) {
            /* Integers throughout: 120 at -1 is 12.0 (no libm needed). */
            long r = strtol(reading, NULL, 10), m = strtol(um, NULL, 10);
            if (m >= 0) {
                for (long i = 0; i < m; i++)
                    r *= 10;
                snprintf(value, sizeof(value), "%ld", r);
            } else {
                long div = 1;
                for (long i = 0; i < -m && i < 9; i++)
                    div *= 10;
                snprintf(value, sizeof(value), "%s%ld.%0*ld", r < 0 ? "-" : "", labs(r) / div,
                         (int)-m, labs(r) % div);
            }
        }
        printf("%-12s %-16s %10s %-4s %s\n", sys, name, value, unit_name(atoi(base)), state);
        n++;
    }
    int rc = 0;
    if (e != WSM_ERR_NOT_FOUND) {
        fprintf(stderr, "%s: %s\n", argv[0], wsm_session_error(s));
        rc = 1;
    }
    fprintf(stderr, "%lu sensor(s)\n", n);
    wsm_enum_free(en);
    wsm_session_free(s);
    return rc;
}
