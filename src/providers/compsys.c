/* The host as CIM classes: the computer system, in its WMI form
 * (Win32_ComputerSystem) and its DMTF form (CIM_ComputerSystem). The
 * readers and setters it uses are in os.c (os_priv.h).
 *
 * The Win32 table holds every property Windows has, in WMI's order
 * (alphabetical, case ignored); what Linux has no fact for stays NULL.
 * docs/internals/providers-os.md lists where each value comes from.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cim.h"
#include "os_priv.h"

/* ---- Win32_ComputerSystem / CIM_ComputerSystem ----------------------- */

static const struct cim_prop win32_cs_props[] = {
    {"AdminPasswordStatus", CIM_UINT16, 0},
    {"AutomaticManagedPagefile", CIM_BOOLEAN, 0},
    {"AutomaticResetBootOption", CIM_BOOLEAN, 0},
    {"AutomaticResetCapability", CIM_BOOLEAN, 0},
    {"BootOptionOnLimit", CIM_UINT16, 0},
    {"BootOptionOnWatchDog", CIM_UINT16, 0},
    {"BootROMSupported", CIM_BOOLEAN, 0},
    {"BootStatus", CIM_UINT16, CIM_ARRAY},
    {"BootupState", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"ChassisBootupState", CIM_UINT16, 0},
    {"ChassisSKUNumber", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"CurrentTimeZone", CIM_SINT16, 0},
    {"DaylightInEffect", CIM_BOOLEAN, 0},
    {"Description", CIM_STRING, 0},
    {"DNSHostName", CIM_STRING, 0},
    {"Domain", CIM_STRING, 0},
    {"DomainRole", CIM_UINT16, 0},
    {"EnableDaylightSavingsTime", CIM_BOOLEAN, 0},
    {"FrontPanelResetStatus", CIM_UINT16, 0},
    {"HypervisorPresent", CIM_BOOLEAN, 0},
    {"InfraredSupported", CIM_BOOLEAN, 0},
    {"InitialLoadInfo", CIM_STRING, CIM_ARRAY},
    {"InstallDate", CIM_DATETIME, 0},
    {"KeyboardPasswordStatus", CIM_UINT16, 0},
    {"LastLoadInfo", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"Model", CIM_STRING, 0},
    {"Name", CIM_STRING, CIM_KEY},
    {"NameFormat", CIM_STRING, 0},
    {"NetworkServerModeEnabled", CIM_BOOLEAN, 0},
    {"NumberOfLogicalProcessors", CIM_UINT32, 0},
    {"NumberOfProcessors", CIM_UINT32, 0},
    {"OEMLogoBitmap", CIM_UINT8, CIM_ARRAY},
    {"OEMStringArray", CIM_STRING, CIM_ARRAY},
    {"PartOfDomain", CIM_BOOLEAN, 0},
    {"PauseAfterReset", CIM_SINT64, 0},
    {"PCSystemType", CIM_UINT16, 0},
    {"PCSystemTypeEx", CIM_UINT16, 0},
    {"PowerManagementCapabilities", CIM_UINT16, CIM_ARRAY},
    {"PowerManagementSupported", CIM_BOOLEAN, 0},
    {"PowerOnPasswordStatus", CIM_UINT16, 0},
    {"PowerState", CIM_UINT16, 0},
    {"PowerSupplyState", CIM_UINT16, 0},
    {"PrimaryOwnerContact", CIM_STRING, 0},
    {"PrimaryOwnerName", CIM_STRING, 0},
    {"ResetCapability", CIM_UINT16, 0},
    {"ResetCount", CIM_SINT16, 0},
    {"ResetLimit", CIM_SINT16, 0},
    {"Roles", CIM_STRING, CIM_ARRAY},
    {"Status", CIM_STRING, 0},
    {"SupportContactDescription", CIM_STRING, CIM_ARRAY},
    {"SystemFamily", CIM_STRING, 0},
    {"SystemSKUNumber", CIM_STRING, 0},
    {"SystemStartupDelay", CIM_UINT16, 0},
    {"SystemStartupOptions", CIM_STRING, CIM_ARRAY},
    {"SystemStartupSetting", CIM_UINT8, 0},
    {"SystemType", CIM_STRING, 0},
    {"ThermalState", CIM_UINT16, 0},
    {"TotalPhysicalMemory", CIM_UINT64, 0},
    {"UserName", CIM_STRING, 0},
    {"WakeUpType", CIM_UINT16, 0},
    {"Workgroup", CIM_STRING, 0},
};

static const struct cim_prop cim_cs_props[] = {
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, CIM_KEY},
    {"NameFormat", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Dedicated", CIM_UINT16, CIM_ARRAY},
    {"EnabledState", CIM_UINT16, 0},
    {"OperationalStatus", CIM_UINT16, CIM_ARRAY},
    {"Status", CIM_STRING, 0},
};

/* ---- facts of the computer ------------------------------------------- */

/* The user of the local console: logind's active session on seat0
 * (ACTIVE_UID of /run/systemd/seats/seat0), as "HOST\user" the way
 * Windows names a local account. 0 if no one is at the console. */
static int console_user(const char *shortname, char *out, size_t n)
{
    char path[512], uidtext[32];
    if (os__kv_file_get(os__host_path(path, sizeof(path), "/run/systemd/seats/seat0"), "ACTIVE_UID",
                        uidtext, sizeof(uidtext)) <= 0)
        return 0;
    char *end;
    long uid = strtol(uidtext, &end, 10);
    if (end == uidtext || *end || uid < 0)
        return 0;
    struct passwd pw, *res = NULL;
    char pwbuf[4096];
    if (getpwuid_r((uid_t)uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res)
        return 0;
    int k = snprintf(out, n, "%s\\%s", shortname, pw.pw_name);
    return k > 0 && (size_t)k < n;
}

/* The workgroup of a host in no domain: Samba's [global] workgroup when
 * smb.conf sets one, else WORKGROUP, the name Windows gives when none
 * was chosen. */
static void workgroup(char *out, size_t n)
{
    char path[512], line[1024];
    os__copy_str(out, n, "WORKGROUP");
    FILE *f = fopen(os__host_path(path, sizeof(path), "/etc/samba/smb.conf"), "re");
    if (!f)
        return;
    int global = 0;
    for (long lines = 0; lines < 100000 && os__read_line(f, line, sizeof(line)); lines++) {
        char *s = os__trim(line);
        if (*s == '[') {
            global = !strncasecmp(s, "[global]", 8);
            continue;
        }
        if (!global || strncasecmp(s, "workgroup", 9) != 0)
            continue;
        char *v = s + 9;
        v += strspn(v, " \t");
        if (*v != '=')
            continue;
        v = os__trim(v + 1);
        if (*v)
            os__copy_str(out, n, v);
    }
    fclose(f);
}

static void fill_cs(struct cim_instance *i)
{
    int wmi = os__is_wmi(i);
    char host[256], domain[256], path[512], buf[256];
    cim_system_name(host, sizeof(host));

    os__set_str(i, "Name", host);
    os__set_str(i, "Caption", host);
    os__set_str(i, "ElementName", host);
    os__set_str(i, "CreationClassName", wmi ? "Win32_ComputerSystem" : "CIM_ComputerSystem");
    if (!wmi)
        os__set_str(i, "NameFormat", "IP"); /* a host name */
    if (wmi) {
        char shortname[256];
        os__copy_str(shortname, sizeof(shortname), host);
        shortname[strcspn(shortname, ".")] = '\0';
        os__set_str(i, "DNSHostName", shortname);
        os__dns_domain(host, domain, sizeof(domain));
        workgroup(buf, sizeof(buf));
        os__set_str(i, "Domain", domain[0] ? domain : buf);
        os__set_str(i, "Workgroup", buf);
        os__set_bool(i, "PartOfDomain", 0);
        os__set_dmi_id(i, "Manufacturer", "sys_vendor");
        os__set_dmi_id(i, "Model", "product_name");
        os__set_dmi_id(i, "SystemFamily", "product_family");
        os__set_dmi_id(i, "SystemSKUNumber", "product_sku");
        /* ACPI's Preferred_PM_Profile (FADT), the field Windows takes
         * PCSystemType from: the same values, 0 Unspecified to 7
         * Performance Server; 8 (Tablet) is PCSystemTypeEx's Slate. */
        int prof;
        if (os__read_small(os__sys_path(path, sizeof(path), "/sys/firmware/acpi/pm_profile"), buf,
                           sizeof(buf)) > 0 &&
            os__parse_int(buf, 10, &prof) == 0 && prof <= 8) {
            if (prof <= 7)
                os__set_u64(i, "PCSystemType", (uint64_t)prof);
            os__set_u64(i, "PCSystemTypeEx", (uint64_t)prof);
        }
        if (console_user(shortname, buf, sizeof(buf)))
            os__set_str(i, "UserName", buf);

        struct cpurec *recs, global;
        size_t nrecs;
        if (os__cpuinfo_read(os__host_path(path, sizeof(path), "/proc/cpuinfo"), &recs, &nrecs,
                             &global) < 0) {
            recs = NULL;
            nrecs = 0;
        }
        struct topo t;
        if (os__topo_read(&t, recs, nrecs) == 0) {
            os__set_u64(i, "NumberOfProcessors", t.npkg);
            os__topo_free(&t);
        }
        if (nrecs && recs[0].hypervisor >= 0)
            os__set_bool(i, "HypervisorPresent", recs[0].hypervisor);
        free(recs);
        long on = sysconf(_SC_NPROCESSORS_ONLN);
        if (on > 0)
            os__set_u64(i, "NumberOfLogicalProcessors", (uint64_t)on);

        struct meminfo m;
        if (os__meminfo_read(os__host_path(path, sizeof(path), "/proc/meminfo"), &m) == 0)
            os__set_u64(i, "TotalPhysicalMemory", m.total * 1024);
        struct utsname u;
        if (uname(&u) == 0)
            os__set_str(i, "SystemType", os__wmi_system_type(u.machine));
        time_t now = time(NULL);
        struct tm tm;
        if (localtime_r(&now, &tm)) {
            os__set_s64(i, "CurrentTimeZone", tm.tm_gmtoff / 60);
            if (tm.tm_isdst >= 0)
                os__set_bool(i, "DaylightInEffect", tm.tm_isdst > 0);
        }
    }
    os__set_one(i, "Dedicated", "0"); /* Not Dedicated: a general-purpose host */
    os__set_u64(i, "EnabledState", 2);
    os__set_one(i, "OperationalStatus", "2");
    os__set_str(i, "Status", "OK");
}

static enum wsm_err cs_next(void *it, struct cim_instance *inst)
{
    struct one_it *o = it;
    if (!o || o->done)
        return WSM_ERR_NOT_FOUND;
    o->done = 1;
    fill_cs(inst);
    return WSM_OK;
}

const struct cim_class os__win32_cs =
    CLASS("Win32_ComputerSystem", win32_cs_props, os__one_open, cs_next, os__one_close);
const struct cim_class os__cim_cs =
    CLASS("CIM_ComputerSystem", cim_cs_props, os__one_open, cs_next, os__one_close);
