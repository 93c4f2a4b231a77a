/* The host as CIM classes: the operating system, in its WMI form
 * (Win32_OperatingSystem) and its DMTF form (CIM_OperatingSystem). The
 * readers and setters it uses are in os.c (os_priv.h); the computer
 * system is in compsys.c.
 *
 * The Win32 tables hold every property Windows has, in the order WMI
 * gives them (alphabetical, case ignored), so that a client sees the
 * same shape as from Windows; a property Linux has no fact for stays
 * NULL (xsi:nil), as WMI leaves it when the fact is unknown.
 * docs/internals/providers-os.md lists where each value comes from.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cim.h"
#include "os_priv.h"

/* ---- Win32_OperatingSystem / CIM_OperatingSystem --------------------- */

static const struct cim_prop win32_os_props[] = {
    {"BootDevice", CIM_STRING, 0},
    {"BuildNumber", CIM_STRING, 0},
    {"BuildType", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"CodeSet", CIM_STRING, 0},
    {"CountryCode", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"CSCreationClassName", CIM_STRING, 0},
    {"CSDVersion", CIM_STRING, 0},
    {"CSName", CIM_STRING, 0},
    {"CurrentTimeZone", CIM_SINT16, CIM_VOLATILE},
    {"DataExecutionPrevention_32BitApplications", CIM_BOOLEAN, 0},
    {"DataExecutionPrevention_Available", CIM_BOOLEAN, 0},
    {"DataExecutionPrevention_Drivers", CIM_BOOLEAN, 0},
    {"DataExecutionPrevention_SupportPolicy", CIM_UINT8, 0},
    {"Debug", CIM_BOOLEAN, 0},
    {"Description", CIM_STRING, CIM_WRITE}, /* Put: the pretty host name */
    {"Distributed", CIM_BOOLEAN, 0},
    {"EncryptionLevel", CIM_UINT32, 0},
    {"ForegroundApplicationBoost", CIM_UINT8, 0},
    {"FreePhysicalMemory", CIM_UINT64, CIM_VOLATILE},
    {"FreeSpaceInPagingFiles", CIM_UINT64, CIM_VOLATILE},
    {"FreeVirtualMemory", CIM_UINT64, CIM_VOLATILE},
    {"InstallDate", CIM_DATETIME, 0},
    {"LargeSystemCache", CIM_UINT32, 0},
    {"LastBootUpTime", CIM_DATETIME, CIM_VOLATILE},
    {"LocalDateTime", CIM_DATETIME, CIM_VOLATILE},
    {"Locale", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"MaxNumberOfProcesses", CIM_UINT32, CIM_VOLATILE},
    {"MaxProcessMemorySize", CIM_UINT64, 0},
    {"MUILanguages", CIM_STRING, CIM_ARRAY},
    {"Name", CIM_STRING, CIM_KEY},
    {"NumberOfLicensedUsers", CIM_UINT32, 0},
    {"NumberOfProcesses", CIM_UINT32, CIM_VOLATILE},
    {"NumberOfUsers", CIM_UINT32, CIM_VOLATILE},
    {"OperatingSystemSKU", CIM_UINT32, 0},
    {"Organization", CIM_STRING, 0},
    {"OSArchitecture", CIM_STRING, 0},
    {"OSLanguage", CIM_UINT32, 0},
    {"OSProductSuite", CIM_UINT32, 0},
    {"OSType", CIM_UINT16, 0},
    {"OtherTypeDescription", CIM_STRING, 0},
    {"PAEEnabled", CIM_BOOLEAN, 0},
    {"PlusProductID", CIM_STRING, 0},
    {"PlusVersionNumber", CIM_STRING, 0},
    {"PortableOperatingSystem", CIM_BOOLEAN, 0},
    {"Primary", CIM_BOOLEAN, 0},
    {"ProductType", CIM_UINT32, 0},
    {"QuantumLength", CIM_UINT8, 0},
    {"QuantumType", CIM_UINT8, 0},
    {"RegisteredUser", CIM_STRING, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"ServicePackMajorVersion", CIM_UINT16, 0},
    {"ServicePackMinorVersion", CIM_UINT16, 0},
    {"SizeStoredInPagingFiles", CIM_UINT64, CIM_VOLATILE},
    {"Status", CIM_STRING, 0},
    {"SuiteMask", CIM_UINT32, 0},
    {"SystemDevice", CIM_STRING, 0},
    {"SystemDirectory", CIM_STRING, 0},
    {"SystemDrive", CIM_STRING, 0},
    {"TotalSwapSpaceSize", CIM_UINT64, CIM_VOLATILE},
    {"TotalVirtualMemorySize", CIM_UINT64, CIM_VOLATILE},
    {"TotalVisibleMemorySize", CIM_UINT64, 0},
    {"Version", CIM_STRING, 0},
    {"WindowsDirectory", CIM_STRING, 0},
};

static const struct cim_prop cim_os_props[] = {
    {"CSCreationClassName", CIM_STRING, CIM_KEY},
    {"CSName", CIM_STRING, CIM_KEY},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, CIM_KEY},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"OSType", CIM_UINT16, 0},
    {"Version", CIM_STRING, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"LastBootUpTime", CIM_DATETIME, 0},
    {"LocalDateTime", CIM_DATETIME, 0},
    {"CurrentTimeZone", CIM_SINT16, 0},
    {"NumberOfProcesses", CIM_UINT32, 0},
    {"NumberOfUsers", CIM_UINT32, 0},
    {"MaxNumberOfProcesses", CIM_UINT32, 0},
    {"TotalVisibleMemorySize", CIM_UINT64, 0},
    {"FreePhysicalMemory", CIM_UINT64, 0},
    {"TotalVirtualMemorySize", CIM_UINT64, 0},
    {"FreeVirtualMemory", CIM_UINT64, 0},
    {"TotalSwapSpaceSize", CIM_UINT64, 0},
    {"SizeStoredInPagingFiles", CIM_UINT64, 0},
    {"FreeSpaceInPagingFiles", CIM_UINT64, 0},
    {"Distributed", CIM_BOOLEAN, 0},
    {"EnabledState", CIM_UINT16, 0},
    {"OperationalStatus", CIM_UINT16, CIM_ARRAY},
    {"Status", CIM_STRING, 0},
};

/* ---- facts of the OS ---------------------------------------------------- */

/* The kernel's version as one number, the way the kernel itself encodes
 * it (linux/version.h: KERNEL_VERSION(a, b, c) = a << 16 | b << 8 | c,
 * c capped at 255): "6.1.0-28-amd64" is 393472. An integer that grows
 * with every release, so that scripts comparing [int]BuildNumber work as
 * with Windows' builds. -1 if the release does not begin with a.b. */
static long kernel_version_code(const char *release)
{
    long part[3] = {0, 0, 0};
    const char *s = release;
    int k = 0;
    for (; k < 3; k++) {
        if (!isdigit((unsigned char)*s)) {
            if (k < 2)
                return -1;
            break;
        }
        char *end;
        long v = strtol(s, &end, 10);
        if (v > 65535)
            return -1;
        part[k] = v;
        s = end;
        if (*s != '.') {
            k++;
            break;
        }
        s++;
    }
    if (k < 2 || part[0] > 255 || part[1] > 255)
        return -1;
    return part[0] << 16 | part[1] << 8 | (part[2] > 255 ? 255 : part[2]);
}

/* The configuration words of uname -v ("#1 SMP PREEMPT_DYNAMIC Debian
 * 6.1.123-1 (2025-01-02)" gives "SMP PREEMPT_DYNAMIC"): what the kernel
 * was built as, like Windows' "Multiprocessor Free". "" if none. */
static void build_type(const char *version, char *out, size_t n)
{
    static const char *const words[] = {"SMP", "PREEMPT", "PREEMPT_DYNAMIC", "PREEMPT_RT"};
    size_t o = 0;
    out[0] = '\0';
    const char *s = version;
    if (*s == '#')
        s += strcspn(s, " ");
    for (;;) {
        s += strspn(s, " ");
        size_t len = strcspn(s, " ");
        if (!len)
            break;
        int known = 0;
        for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
            if (strlen(words[k]) == len && !strncmp(words[k], s, len))
                known = 1;
        if (!known)
            break; /* the words stop where the distribution's text begins */
        if (o + len + 2 > n)
            break;
        if (o)
            out[o++] = ' ';
        memcpy(out + o, s, len);
        o += len;
        out[o] = '\0';
        s += len;
    }
}

/* LANG of the system locale: /etc/locale.conf (systemd), else
 * /etc/default/locale (Debian). 1 if found. */
static int system_lang(char *out, size_t n)
{
    char path[512];
    if (os__kv_file_get(os__host_path(path, sizeof(path), "/etc/locale.conf"), "LANG", out, n) >
            0 &&
        out[0])
        return 1;
    return os__kv_file_get(os__host_path(path, sizeof(path), "/etc/default/locale"), "LANG", out,
                           n) > 0 &&
           out[0];
}

/* The Windows code page of a locale's character set (CodeSet): UTF-8 is
 * 65001, ISO 8859-n is 2859n (-15: 28605), the C and POSIX locales are
 * ASCII (20127). NULL for what has no code page we can name. */
static const char *lang_code_page(const char *lang, char *buf, size_t n)
{
    if (!strcmp(lang, "C") || !strcmp(lang, "POSIX"))
        return "20127";
    const char *dot = strchr(lang, '.');
    if (!dot)
        return NULL;
    char cs[32];
    size_t len = strcspn(dot + 1, "@");
    if (len >= sizeof(cs))
        return NULL;
    size_t o = 0;
    for (size_t k = 0; k < len; k++)
        if (dot[1 + k] != '-' && dot[1 + k] != '_')
            cs[o++] = (char)tolower((unsigned char)dot[1 + k]);
    cs[o] = '\0';
    if (!strcmp(cs, "utf8"))
        return "65001";
    if (!strcmp(cs, "iso885915"))
        return "28605";
    if (!strncmp(cs, "iso8859", 7) && cs[7] >= '1' && cs[7] <= '9' && !cs[8]) {
        snprintf(buf, n, "2859%c", cs[7]);
        return buf;
    }
    return NULL;
}

/* The language tag of a locale (MUILanguages): "de_CH.UTF-8@euro" gives
 * "de-CH". 0 for C, POSIX and what is not a language. */
static int lang_tag(const char *lang, char *out, size_t n)
{
    size_t len = strcspn(lang, ".@");
    if (len < 2 || len >= n || !strcmp(lang, "POSIX"))
        return 0;
    for (size_t k = 0; k < len; k++) {
        char c = lang[k];
        if (c == '_')
            c = '-';
        else if (!isalpha((unsigned char)c))
            return 0;
        out[k] = c;
    }
    out[len] = '\0';
    return isalpha((unsigned char)out[0]) && isalpha((unsigned char)out[1]);
}

/* When the system was installed: the birth time of the root directory
 * (statx), which mkfs or the image builder set when the root file system
 * was made. -1 where the file system keeps no birth time. */
static int install_time(time_t *t)
{
    char path[512];
    struct statx sx;
    if (statx(AT_FDCWD, os__host_path(path, sizeof(path), "/"), 0, STATX_BTIME, &sx) != 0 ||
        !(sx.stx_mask & STATX_BTIME) || sx.stx_btime.tv_sec <= 0)
        return -1;
    *t = (time_t)sx.stx_btime.tv_sec;
    return 0;
}

/* The most processes there can be: each needs a pid below pid_max and a
 * task within threads-max, so the lower of the two. -1 if unreadable. */
static long max_processes(void)
{
    char path[512], buf[64];
    long best = -1;
    static const char *const files[] = {"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"};
    for (size_t k = 0; k < 2; k++) {
        if (os__read_small(os__host_path(path, sizeof(path), "%s", files[k]), buf, sizeof(buf)) <=
            0)
            continue;
        char *end;
        long v = strtol(buf, &end, 10);
        if (end == buf || *end || v <= 0)
            continue;
        if (best < 0 || v < best)
            best = v;
    }
    return best;
}

static void fill_os(struct cim_instance *i)
{
    int wmi = os__is_wmi(i);
    char host[256], pretty[256], buf[256], root[256], path[512], mountinfo[512];
    struct utsname u;
    int have_u = uname(&u) == 0;

    cim_system_name(host, sizeof(host));
    if (!os__os_release("PRETTY_NAME", pretty, sizeof(pretty)))
        os__copy_str(pretty, sizeof(pretty), "Linux"); /* the default os-release(5) gives */
    os__host_path(mountinfo, sizeof(mountinfo), "/proc/self/mountinfo");
    if (os__root_source(mountinfo, root, sizeof(root)) < 0)
        root[0] = '\0';

    if (wmi)
        os__set_fmt(i, "Name", "%s|/|%s", pretty, root);
    else
        os__set_str(i, "Name", pretty);
    os__set_str(i, "Caption", pretty);
    os__set_str(i, "ElementName", pretty);
    os__set_str(i, "CSName", host);
    os__set_str(i, "CSCreationClassName", wmi ? "Win32_ComputerSystem" : "CIM_ComputerSystem");
    os__set_str(i, "CreationClassName", wmi ? "Win32_OperatingSystem" : "CIM_OperatingSystem");
    os__set_u64(i, "OSType", 36); /* LINUX */
    if (have_u) {
        os__set_str(i, "Version", u.release);
        long code = kernel_version_code(u.release);
        if (code >= 0)
            os__set_fmt(i, "BuildNumber", "%ld", code);
        build_type(u.version, buf, sizeof(buf));
        if (buf[0])
            os__set_str(i, "BuildType", buf);
        os__set_str(i, "OSArchitecture", os__machine_is_64(u.machine) ? "64-bit" : "32-bit");
    }
    if (os__os_release("VENDOR_NAME", buf, sizeof(buf)) || os__os_release("NAME", buf, sizeof(buf)))
        os__set_str(i, "Manufacturer", buf);
    if (wmi) {
        if (os__read_small(os__host_path(path, sizeof(path), "/etc/machine-id"), buf, sizeof(buf)) >
            0)
            os__set_str(i, "SerialNumber", buf);
        /* Windows' computer description; hostnamectl's pretty name here. */
        if (os__kv_file_get(os__host_path(path, sizeof(path), "/etc/machine-info"),
                            "PRETTY_HOSTNAME", buf, sizeof(buf)) > 0 &&
            buf[0])
            os__set_str(i, "Description", buf);
        /* The device the kernel was loaded from: /boot's, else /'s. */
        if (os__mount_source(mountinfo, "/boot", buf, sizeof(buf)) == 0)
            os__set_str(i, "BootDevice", buf);
        else if (root[0])
            os__set_str(i, "BootDevice", root);
        os__set_str(i, "SystemDrive", "/");
        /* NX: the kernel maps its own data and every process's stack
         * and heap non-executable when the CPU has it. */
        struct cpurec *recs, global;
        size_t nrecs;
        if (os__cpuinfo_read(os__host_path(path, sizeof(path), "/proc/cpuinfo"), &recs, &nrecs,
                             &global) == 0) {
            if (nrecs && recs[0].nx >= 0) {
                os__set_bool(i, "DataExecutionPrevention_Available", recs[0].nx);
                os__set_bool(i, "DataExecutionPrevention_Drivers", recs[0].nx);
            }
            free(recs);
        }
    }

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t bsec, inst;
    long busec;
    if (os__boot_time(&bsec, &busec) == 0)
        os__set_time(i, "LastBootUpTime", bsec, busec);
    if (install_time(&inst) == 0)
        os__set_time(i, "InstallDate", inst, 0);
    os__set_time(i, "LocalDateTime", now.tv_sec, now.tv_nsec / 1000);
    struct tm tm;
    if (localtime_r(&now.tv_sec, &tm))
        os__set_s64(i, "CurrentTimeZone", tm.tm_gmtoff / 60);
    if (system_lang(buf, sizeof(buf))) {
        char cp[16], tag[64];
        os__set_str(i, "Locale", buf);
        os__set_str(i, "CodeSet", lang_code_page(buf, cp, sizeof(cp)));
        if (lang_tag(buf, tag, sizeof(tag)))
            os__set_one(i, "MUILanguages", tag);
    }

    struct meminfo m;
    unsigned long long freekb;
    if (os__meminfo_read(os__host_path(path, sizeof(path), "/proc/meminfo"), &m) == 0) {
        os__set_u64(i, "TotalVisibleMemorySize", m.total);
        if (m.have_swap) {
            os__set_u64(i, "TotalVirtualMemorySize", m.total + m.swap_total);
            os__set_u64(i, "TotalSwapSpaceSize", m.swap_total);
            os__set_u64(i, "SizeStoredInPagingFiles", m.swap_total);
            os__set_u64(i, "FreeSpaceInPagingFiles", m.swap_free);
        }
        if (os__mem_free_kb(&m, &freekb) == 0) {
            os__set_u64(i, "FreePhysicalMemory", freekb);
            if (m.have_swap)
                os__set_u64(i, "FreeVirtualMemory", freekb + m.swap_free);
        }
    }
    long np = os__count_processes();
    if (np >= 0)
        os__set_u64(i, "NumberOfProcesses", (uint64_t)np);
    long maxp = max_processes();
    if (maxp > 0)
        os__set_u64(i, "MaxNumberOfProcesses", (uint64_t)maxp);
    char utmp[512];
    long nu = os__count_sessions(os__host_path(path, sizeof(path), "/run/systemd/sessions"),
                                 os__host_path(utmp, sizeof(utmp), "/var/run/utmp"));
    if (nu >= 0)
        os__set_u64(i, "NumberOfUsers", (uint64_t)nu);

    os__set_str(i, "SystemDirectory", "/usr/bin");
    if (root[0])
        os__set_str(i, "SystemDevice", root);
    os__set_bool(i, "Primary", 1);
    os__set_bool(i, "Distributed", 0);
    os__set_u64(i, "EnabledState", 2); /* Enabled */
    os__set_one(i, "OperationalStatus", "2");
    os__set_str(i, "Status", "OK");
}

static enum wsm_err os_next(void *it, struct cim_instance *inst)
{
    struct one_it *o = it;
    if (!o || o->done)
        return WSM_ERR_NOT_FOUND;
    o->done = 1;
    fill_os(inst);
    return WSM_OK;
}

/* ---- Put: Description ------------------------------------------------ */

/* Description is what Windows lets an administrator write here (the
 * computer's description); ours is PRETTY_HOSTNAME of /etc/machine-info,
 * which this writes as hostnamectl set-hostname --pretty does: the other
 * lines kept, the file replaced whole (a temporary file renamed over it),
 * the value double-quoted with \ " $ ` escaped. Root only. */
static int put_pretty_hostname(const char *value)
{
    char path[512], tmp[600], line[4096];
    os__host_path(path, sizeof(path), "/etc/machine-info");
    snprintf(tmp, sizeof(tmp), "%s.wsmd-XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    FILE *out = fdopen(fd, "w");
    if (!out) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return -err;
    }
    FILE *in = fopen(path, "re");
    for (long n = 0; in && n < 10000 && os__read_line(in, line, sizeof(line)); n++) {
        const char *k = line + strspn(line, " \t");
        if (!strncmp(k, "PRETTY_HOSTNAME=", 16))
            continue;
        fprintf(out, "%s\n", line);
    }
    if (in)
        fclose(in);
    if (*value) {
        fputs("PRETTY_HOSTNAME=\"", out);
        for (const char *c = value; *c; c++) {
            if (strchr("\\\"$`", *c))
                fputc('\\', out);
            fputc(*c, out);
        }
        fputs("\"\n", out);
    }
    int err = 0;
    if (fflush(out) != 0 || fsync(fileno(out)) != 0)
        err = errno ? errno : EIO;
    if (fclose(out) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err && chmod(tmp, 0644) != 0)
        err = errno;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        unlink(tmp);
    return -err;
}

static enum wsm_err os_put(const struct cim_ctx *ctx, struct cim_instance *target,
                           const struct wsm_pair *props, size_t nprops)
{
    const char *v = NULL;
    for (size_t k = 0; k < nprops; k++)
        if (!strcmp(props[k].name, "Description"))
            v = props[k].value;
    if (!v)
        return WSM_OK;
    const char *cur = cim_get(target, "Description");
    if (cur ? !strcmp(cur, v) : !*v)
        return WSM_OK; /* echoed back unchanged: nothing to do, no right needed */
    /* One line of text: what the file and a UTF-8 host name can hold. */
    size_t len = strlen(v);
    if (len > 255)
        return WSM_ERR_INVALID_REPRESENTATION;
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return WSM_ERR_INVALID_REPRESENTATION;
    int root = ctx && ctx->switch_user ? ctx->uid == 0 : geteuid() == 0;
    if (!root)
        return WSM_ERR_ACCESS_DENIED;
    int r = put_pretty_hostname(v);
    if (r == -EACCES || r == -EPERM || r == -EROFS)
        return WSM_ERR_ACCESS_DENIED;
    if (r < 0)
        return cim_errno_shortage(-r) ? cim_errno_shortage(-r) : WSM_ERR_INTERNAL;
    cim_set_str(target, "Description", *v ? v : NULL);
    return WSM_OK;
}

const struct cim_class os__win32_os = {
    .name = "Win32_OperatingSystem",
    .props = win32_os_props,
    .nprops = sizeof(win32_os_props) / sizeof(win32_os_props[0]),
    .open = os__one_open,
    .next = os_next,
    .close = os__one_close,
    .put = os_put,
};
const struct cim_class os__cim_os =
    CLASS("CIM_OperatingSystem", cim_os_props, os__one_open, os_next, os__one_close);
