/* The host itself as CIM classes: physical memory and BIOS, each in its
 * WMI form (Win32_X) and its DMTF form (CIM_X), from the SMBIOS
 * structures (types 17 and 0, root only; hw.c reads them), DMI
 * (/sys/class/dmi/id) and the ACPI root table. os.c lists the classes in
 * the family.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cim.h"
#include "os_priv.h"

/* ---- Win32_PhysicalMemory / CIM_PhysicalMemory ----------------------- */

static const struct cim_prop win32_mem_props[] = {
    {"Attributes", CIM_UINT32, 0},
    {"BankLabel", CIM_STRING, 0},
    {"Capacity", CIM_UINT64, 0},
    {"Caption", CIM_STRING, 0},
    {"ConfiguredClockSpeed", CIM_UINT32, 0},
    {"ConfiguredVoltage", CIM_UINT32, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"DataWidth", CIM_UINT16, 0},
    {"Description", CIM_STRING, 0},
    {"DeviceLocator", CIM_STRING, 0},
    {"FormFactor", CIM_UINT16, 0},
    {"HotSwappable", CIM_BOOLEAN, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"InterleaveDataDepth", CIM_UINT16, 0},
    {"InterleavePosition", CIM_UINT32, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"MaxVoltage", CIM_UINT32, 0},
    {"MemoryType", CIM_UINT16, 0},
    {"MinVoltage", CIM_UINT32, 0},
    {"Model", CIM_STRING, 0},
    {"Name", CIM_STRING, 0},
    {"OtherIdentifyingInfo", CIM_STRING, 0},
    {"PartNumber", CIM_STRING, 0},
    {"PositionInRow", CIM_UINT32, 0},
    {"PoweredOn", CIM_BOOLEAN, 0},
    {"Removable", CIM_BOOLEAN, 0},
    {"Replaceable", CIM_BOOLEAN, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"SKU", CIM_STRING, 0},
    {"SMBIOSMemoryType", CIM_UINT32, 0},
    {"Speed", CIM_UINT32, 0},
    {"Status", CIM_STRING, 0},
    {"Tag", CIM_STRING, CIM_KEY},
    {"TotalWidth", CIM_UINT16, 0},
    {"TypeDetail", CIM_UINT16, 0},
    {"Version", CIM_STRING, 0},
};

static const struct cim_prop cim_mem_props[] = {
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Tag", CIM_STRING, CIM_KEY},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Capacity", CIM_UINT64, 0},
    {"BankLabel", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"PartNumber", CIM_STRING, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"MemoryType", CIM_UINT16, 0},
    {"FormFactor", CIM_UINT16, 0},
    {"DataWidth", CIM_UINT16, 0},
    {"TotalWidth", CIM_UINT16, 0},
    {"MaxMemorySpeed", CIM_UINT32, 0},
    {"ConfiguredMemoryClockSpeed", CIM_UINT32, 0},
};

/* SMBIOS memory type → the MemoryType value map of WMI and CIM (they
 * agree up to 26 = DDR4); -1 where there is no equivalent. */
static int memory_type(unsigned t)
{
    static const signed char map[] = {
        /* 0x00 */ -1, 1,  0,  2,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17,
        /* 0x10 */ 18, 19, 20, 21, -1, -1, -1, -1, 24, 25, 26,
    };
    return t < sizeof(map) ? map[t] : -1;
}

/* SMBIOS form factor → the FormFactor value map of WMI and CIM. */
static int form_factor(unsigned f)
{
    static const signed char map[] = {-1, 1, 0, 7, 2, -1, 3, 4, 6, 8, 9, -1, 11, 12, 13};
    return f < sizeof(map) ? map[f] : -1;
}

/* Fills an instance from one raw type 17 structure. 0 if it describes an
 * installed device, -1 if not (empty slot, malformed). */
static int dmi_mem_fill(struct cim_instance *i, const unsigned char *r, size_t len)
{
    if (len < 0x15 || r[0] != 17 || r[1] < 0x15 || r[1] > len)
        return -1;
    size_t L = r[1];
    unsigned size = os__dmi_u16(r, 0x0c);
    if (size == 0)
        return -1; /* no device installed */
    if (size == 0x7fff && L >= 0x20)
        os__set_u64(i, "Capacity", (uint64_t)(os__dmi_u32(r, 0x1c) & 0x7fffffffu) << 20);
    else if (size != 0xffff)
        os__set_u64(i, "Capacity",
                    size & 0x8000 ? (uint64_t)(size & 0x7fff) << 10 : (uint64_t)size << 20);
    unsigned tw = os__dmi_u16(r, 0x08), dw = os__dmi_u16(r, 0x0a);
    if (tw != 0xffff && tw != 0)
        os__set_u64(i, "TotalWidth", tw);
    if (dw != 0xffff && dw != 0)
        os__set_u64(i, "DataWidth", dw);
    int ff = form_factor(r[0x0e]);
    if (ff >= 0)
        os__set_u64(i, "FormFactor", (uint64_t)ff);
    char s[128];
    const char *loc = os__dmi_str(r, len, r[0x10], s, sizeof(s));
    os__set_str(i, "DeviceLocator", loc);
    os__set_str(i, "ElementName", loc ? loc : "Physical Memory");
    os__set_str(i, "BankLabel", os__dmi_str(r, len, r[0x11], s, sizeof(s)));
    int mt = memory_type(r[0x12]);
    if (mt >= 0)
        os__set_u64(i, "MemoryType", (uint64_t)mt);
    os__set_u64(i, "SMBIOSMemoryType", r[0x12]);
    os__set_u64(i, "TypeDetail", os__dmi_u16(r, 0x13));
    if (L >= 0x17) {
        uint32_t sp = os__dmi_u16(r, 0x15);
        if (sp == 0xffff && L >= 0x58)
            sp = os__dmi_u32(r, 0x54);
        if (sp && sp != 0xffff) {
            os__set_u64(i, "Speed", sp);
            os__set_u64(i, "MaxMemorySpeed", sp);
        }
    }
    if (L >= 0x1b) {
        os__set_str(i, "Manufacturer", os__dmi_str(r, len, r[0x17], s, sizeof(s)));
        os__set_str(i, "SerialNumber", os__dmi_str(r, len, r[0x18], s, sizeof(s)));
        os__set_str(i, "PartNumber", os__dmi_str(r, len, r[0x1a], s, sizeof(s)));
    }
    if (L >= 0x1c && (r[0x1b] & 0x0f))
        os__set_u64(i, "Attributes", r[0x1b] & 0x0fu); /* rank */
    if (L >= 0x22) {
        uint32_t cs = os__dmi_u16(r, 0x20);
        if (cs == 0xffff && L >= 0x5c)
            cs = os__dmi_u32(r, 0x58);
        if (cs && cs != 0xffff) {
            os__set_u64(i, "ConfiguredClockSpeed", cs);
            os__set_u64(i, "ConfiguredMemoryClockSpeed", cs);
        }
    }
    if (L >= 0x28) {
        static const char *const volt[] = {"MinVoltage", "MaxVoltage", "ConfiguredVoltage"};
        for (int k = 0; k < 3; k++) {
            unsigned mv = os__dmi_u16(r, 0x22 + 2 * (size_t)k);
            if (mv)
                os__set_u64(i, volt[k], mv);
        }
    }
    return 0;
}

struct mem_it {
    unsigned idx[MAX_DMI];
    size_t n, next;
    unsigned produced;
    int fallback_done;
};

static enum wsm_err mem_open(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    struct mem_it *m = calloc(1, sizeof(*m));
    if (!m)
        return WSM_ERR_NOMEM;
    m->n = os__dmi_list(17, m->idx, MAX_DMI);
    *it = m;
    return WSM_OK;
}

static void mem_close(void *it)
{
    free(it);
}

static void mem_common(struct cim_instance *i, unsigned tag)
{
    int wmi = os__is_wmi(i);
    os__set_fmt(i, "Tag", "Physical Memory %u", tag);
    os__set_str(i, "CreationClassName", wmi ? "Win32_PhysicalMemory" : "CIM_PhysicalMemory");
    os__set_str(i, "Name", "Physical Memory");
    os__set_str(i, "Caption", "Physical Memory");
    os__set_str(i, "Description", "Physical Memory");
}

static enum wsm_err mem_next(void *it, struct cim_instance *inst)
{
    struct mem_it *m = it;
    if (!m)
        return WSM_ERR_NOT_FOUND;
    unsigned char raw[4096];
    while (m->next < m->n) {
        ssize_t len = os__dmi_raw(17, m->idx[m->next++], raw, sizeof(raw));
        if (len < 0)
            continue;
        /* Fill first, keep only if installed: reset what a skipped slot set. */
        if (dmi_mem_fill(inst, raw, (size_t)len) < 0) {
            memset(inst->v, 0, inst->cls->nprops * sizeof(*inst->v));
            continue;
        }
        mem_common(inst, m->produced++);
        return WSM_OK;
    }
    if (m->produced || m->fallback_done)
        return WSM_ERR_NOT_FOUND;
    /* No readable SMBIOS: one instance for the memory the kernel sees. */
    m->fallback_done = 1;
    struct meminfo mi;
    if (os__meminfo_read("/proc/meminfo", &mi) < 0)
        return WSM_ERR_NOT_FOUND;
    mem_common(inst, 0);
    os__set_u64(inst, "Capacity", mi.total * 1024);
    os__set_str(inst, "ElementName", "Physical Memory");
    return WSM_OK;
}

/* ---- Win32_BIOS / CIM_BIOSElement ------------------------------------ */

static const struct cim_prop win32_bios_props[] = {
    {"BiosCharacteristics", CIM_UINT16, CIM_ARRAY},
    {"BIOSVersion", CIM_STRING, CIM_ARRAY},
    {"BuildNumber", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"CodeSet", CIM_STRING, 0},
    {"CurrentLanguage", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"EmbeddedControllerMajorVersion", CIM_UINT8, 0},
    {"EmbeddedControllerMinorVersion", CIM_UINT8, 0},
    {"IdentificationCode", CIM_STRING, 0},
    {"InstallableLanguages", CIM_UINT16, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"LanguageEdition", CIM_STRING, 0},
    {"ListOfLanguages", CIM_STRING, CIM_ARRAY},
    {"Manufacturer", CIM_STRING, 0},
    {"Name", CIM_STRING, CIM_KEY},
    {"OtherTargetOS", CIM_STRING, 0},
    {"PrimaryBIOS", CIM_BOOLEAN, 0},
    {"ReleaseDate", CIM_DATETIME, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"SMBIOSBIOSVersion", CIM_STRING, 0},
    {"SMBIOSMajorVersion", CIM_UINT16, 0},
    {"SMBIOSMinorVersion", CIM_UINT16, 0},
    {"SMBIOSPresent", CIM_BOOLEAN, 0},
    {"SoftwareElementID", CIM_STRING, CIM_KEY},
    {"SoftwareElementState", CIM_UINT16, CIM_KEY},
    {"Status", CIM_STRING, 0},
    {"SystemBiosMajorVersion", CIM_UINT8, 0},
    {"SystemBiosMinorVersion", CIM_UINT8, 0},
    {"TargetOperatingSystem", CIM_UINT16, CIM_KEY},
    {"Version", CIM_STRING, CIM_KEY},
};

static const struct cim_prop cim_bios_props[] = {
    {"Name", CIM_STRING, CIM_KEY},
    {"Version", CIM_STRING, CIM_KEY},
    {"SoftwareElementState", CIM_UINT16, CIM_KEY},
    {"SoftwareElementID", CIM_STRING, CIM_KEY},
    {"TargetOperatingSystem", CIM_UINT16, CIM_KEY},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"ReleaseDate", CIM_DATETIME, 0},
    {"PrimaryBIOS", CIM_BOOLEAN, 0},
};

/* "MM/DD/YYYY" (SMBIOS; "MM/DD/YY" before 2.3) as midnight UTC. */
static int parse_bios_date(const char *s, time_t *out)
{
    size_t len = strlen(s);
    if ((len != 8 && len != 10) || s[2] != '/' || s[5] != '/')
        return -1;
    for (size_t k = 0; k < len; k++)
        if (k != 2 && k != 5 && !isdigit((unsigned char)s[k]))
            return -1;
    int mo = (s[0] - '0') * 10 + (s[1] - '0'), d = (s[3] - '0') * 10 + (s[4] - '0');
    int y = atoi(s + 6);
    if (len == 8)
        y += 1900; /* a two-digit year: 19xx, per SMBIOS 2.3 */
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d)
        return -1; /* 02/31 and such */
    *out = t;
    return 0;
}

/* "M.m" (sysfs bios_release, ec_firmware_release). */
static int parse_release(const char *s, unsigned *maj, unsigned *min)
{
    int used = 0;
    if (!isdigit((unsigned char)s[0]) || sscanf(s, "%3u.%3u%n", maj, min, &used) != 2 || s[used] ||
        !isdigit((unsigned char)s[used - 1]) || *maj > 255 || *min > 255)
        return -1;
    return 0;
}

/* The OEM id and revision of the ACPI root table, "OEMID  - rev" as
 * Windows writes Win32_BIOS.Version (root only). */
static int acpi_oem_version(char *out, size_t n)
{
    static const char *const tables[] = {"XSDT", "RSDT"};
    for (size_t k = 0; k < 2; k++) {
        unsigned char h[36];
        char path[512];
        os__sys_path(path, sizeof(path), "/sys/firmware/acpi/tables/%s", tables[k]);
        if (os__read_bin(path, h, sizeof(h)) != (ssize_t)sizeof(h))
            continue;
        char oem[7];
        memcpy(oem, h + 10, 6);
        oem[6] = '\0';
        for (int j = 0; j < 6; j++)
            if (!isprint((unsigned char)oem[j]))
                oem[j] = ' ';
        snprintf(out, n, "%s - %X", oem, (unsigned)os__dmi_u32(h, 24));
        return 0;
    }
    return -1;
}

static enum wsm_err bios_open(const struct cim_ctx *ctx, void **it)
{
    struct stat st;
    char path[512];
    if (stat(os__sys_path(path, sizeof(path), DMI_ID), &st) != 0 || !S_ISDIR(st.st_mode)) {
        *it = NULL; /* no firmware tables (direct kernel boot): no BIOS */
        return WSM_OK;
    }
    return os__one_open(ctx, it);
}

static void fill_bios(struct cim_instance *i)
{
    int wmi = os__is_wmi(i);
    char ver[256], buf[256], path[512];
    const char *name = "Default System BIOS"; /* what Windows shows without a version */
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/bios_version"), ver, sizeof(ver)) >
            0 &&
        os__trim(ver)[0])
        name = os__trim(ver);
    os__set_str(i, "Name", name);
    os__set_str(i, "SoftwareElementID", name);
    os__set_str(i, "Caption", name);
    os__set_str(i, "Description", name);
    os__set_str(i, "ElementName", name);
    os__set_u64(i, "SoftwareElementState", 3);  /* Running */
    os__set_u64(i, "TargetOperatingSystem", 0); /* Unknown */
    if (wmi && acpi_oem_version(buf, sizeof(buf)) == 0)
        os__set_str(i, "Version", buf);
    else
        os__set_str(i, "Version", name);
    if (name == ver)
        os__set_str(i, "SMBIOSBIOSVersion", name);
    /* Windows lists the versions it knows: the ACPI one, then SMBIOS's. */
    const char *vers[2];
    size_t nv = 0;
    const char *v1 = cim_get(i, "Version"), *v2 = cim_get(i, "SMBIOSBIOSVersion");
    if (wmi && v1)
        vers[nv++] = v1;
    if (wmi && v2 && (!v1 || strcmp(v1, v2)))
        vers[nv++] = v2;
    if (nv)
        cim_set_strv(i, "BIOSVersion", vers, nv);
    os__set_dmi_id(i, "Manufacturer", "bios_vendor");
    os__set_dmi_id(i, "SerialNumber", "product_serial");
    time_t rd;
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/bios_date"), buf, sizeof(buf)) >
            0 &&
        parse_bios_date(os__trim(buf), &rd) == 0)
        os__set_time(i, "ReleaseDate", rd, 0);
    os__set_bool(i, "PrimaryBIOS", 1);
    os__set_bool(i, "SMBIOSPresent", 1);
    os__set_str(i, "Status", "OK");

    unsigned char ep[32];
    ssize_t n = os__read_bin(os__sys_path(path, sizeof(path), SMBIOS_EP), ep, sizeof(ep));
    if (n >= 24 && memcmp(ep, "_SM3_", 5) == 0) {
        os__set_u64(i, "SMBIOSMajorVersion", ep[7]);
        os__set_u64(i, "SMBIOSMinorVersion", ep[8]);
    } else if (n >= 31 && memcmp(ep, "_SM_", 4) == 0) {
        os__set_u64(i, "SMBIOSMajorVersion", ep[6]);
        os__set_u64(i, "SMBIOSMinorVersion", ep[7]);
    }

    /* Release numbers: sysfs (readable by all), else the type 0 structure. */
    unsigned maj, min;
    unsigned char raw[1024];
    ssize_t rl = os__dmi_raw(0, 0, raw, sizeof(raw));
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/bios_release"), buf, sizeof(buf)) >
            0 &&
        parse_release(buf, &maj, &min) == 0) {
        os__set_u64(i, "SystemBiosMajorVersion", maj);
        os__set_u64(i, "SystemBiosMinorVersion", min);
    } else if (rl > 0 && raw[1] >= 0x16 && raw[0x14] != 0xff) {
        os__set_u64(i, "SystemBiosMajorVersion", raw[0x14]);
        os__set_u64(i, "SystemBiosMinorVersion", raw[0x15]);
    }
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/ec_firmware_release"), buf,
                       sizeof(buf)) > 0 &&
        parse_release(buf, &maj, &min) == 0) {
        os__set_u64(i, "EmbeddedControllerMajorVersion", maj);
        os__set_u64(i, "EmbeddedControllerMinorVersion", min);
    } else if (rl > 0 && raw[1] >= 0x18 && raw[0x16] != 0xff) {
        os__set_u64(i, "EmbeddedControllerMajorVersion", raw[0x16]);
        os__set_u64(i, "EmbeddedControllerMinorVersion", raw[0x17]);
    }
}

static enum wsm_err bios_next(void *it, struct cim_instance *inst)
{
    struct one_it *o = it;
    if (!o || o->done)
        return WSM_ERR_NOT_FOUND;
    o->done = 1;
    fill_bios(inst);
    return WSM_OK;
}

/* ---- the classes (listed in os.c's cim_family_os) ------------------- */

const struct cim_class os__win32_mem =
    CLASS("Win32_PhysicalMemory", win32_mem_props, mem_open, mem_next, mem_close);
const struct cim_class os__cim_mem =
    CLASS("CIM_PhysicalMemory", cim_mem_props, mem_open, mem_next, mem_close);
const struct cim_class os__win32_bios =
    CLASS("Win32_BIOS", win32_bios_props, bios_open, bios_next, os__one_close);
const struct cim_class os__cim_bios =
    CLASS("CIM_BIOSElement", cim_bios_props, bios_open, bios_next, os__one_close);
