/* The host itself as CIM classes, part one: host facts, and the
 * operating system and computer system classes, each in its WMI form
 * (Win32_X) and its DMTF form (CIM_X); the helpers the family shares
 * (os_priv.h); and the family's class list. The processors (cpu.c),
 * physical memory and BIOS (membios.c), with the CPU topology and SMBIOS
 * readers they need (hw.c), are in their own files.
 *
 * Everything is read live when an instance is produced: /etc/os-release,
 * uname, procfs (meminfo, stat, mountinfo), and logind or utmp for
 * sessions. What cannot be read stays NULL; nothing is guessed.
 * docs/internals/providers-os.md lists where each property comes from.
 *
 * Every reader is bounded (fixed buffers, capped line lengths and record
 * counts) and treats odd content as missing data, never as a crash.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "cim.h"
#include "os_priv.h"

/* ---- small readers -------------------------------------------------- */

/* OS_SYS_ROOT + the formatted path, into buf; returns buf. */
const char *os__sys_path(char *buf, size_t n, const char *fmt, ...)
{
    int k = snprintf(buf, n, "%s", OS_SYS_ROOT);
    if (k < 0 || (size_t)k >= n)
        k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - (size_t)k, fmt, ap);
    va_end(ap);
    return buf;
}

/* OS_HOST_ROOT + the formatted path (a /proc, /etc or /run path), into
 * buf; returns buf. Tests point it at a fixture tree. */
const char *os__host_path(char *buf, size_t n, const char *fmt, ...)
{
    int k = snprintf(buf, n, "%s", OS_HOST_ROOT);
    if (k < 0 || (size_t)k >= n)
        k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - (size_t)k, fmt, ap);
    va_end(ap);
    return buf;
}

/* Up to n bytes of a file, no terminator. -1 if unreadable. */
ssize_t os__read_bin(const char *path, unsigned char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < n) {
        ssize_t r = read(fd, buf + len, n - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    return (ssize_t)len;
}

/* Reads at most n-1 bytes of a small (sysfs, procfs) file into buf, with
 * trailing whitespace removed. Returns the length, or -1 if unreadable. */
ssize_t os__read_small(const char *path, char *buf, size_t n)
{
    if (n == 0)
        return -1;
    ssize_t got = os__read_bin(path, (unsigned char *)buf, n - 1);
    if (got < 0)
        return -1;
    size_t len = (size_t)got;
    buf[len] = '\0';
    len = strlen(buf); /* an embedded NUL ends the text */
    while (len && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    return (ssize_t)len;
}

/* One line into buf without its newline; a longer line is cut to n-1
 * bytes and the rest of it skipped. 0 at end of file. */
int os__read_line(FILE *f, char *buf, size_t n)
{
    if (!fgets(buf, (int)n, f))
        return 0;
    size_t len = strlen(buf);
    if (len && buf[len - 1] == '\n') {
        buf[--len] = '\0';
    } else {
        int c;
        while ((c = getc(f)) != EOF && c != '\n')
            ;
    }
    return 1;
}

char *os__trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

void os__copy_str(char *dst, size_t n, const char *src)
{
    if (n == 0)
        return;
    size_t len = strlen(src);
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* The number s begins with (strtol's syntax in the given base) if it is
 * a non-negative int; -1 if s holds none or it does not fit. */
int os__parse_int(const char *s, int base, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, base);
    if (end == s || errno || v < 0 || v > 0x7fffffff)
        return -1;
    *out = (int)v;
    return 0;
}

/* Text from firmware or the kernel may hold control characters or bytes
 * that are not UTF-8; XML cannot carry them. Replaces each with '?'.
 * Returns whether anything changed. */
static int clean_text(char *s)
{
    int changed = 0;
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t need = 0;
        unsigned min = 0;
        if (c < 0x20 || c == 0x7f) {
            *p++ = '?';
            changed = 1;
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            min = 0x10000;
        }
        unsigned cp = need ? c & (0x3fu >> need) : 0;
        size_t k = 1;
        for (; need && k <= need; k++) {
            if ((p[k] & 0xc0) != 0x80)
                break;
            cp = cp << 6 | (p[k] & 0x3fu);
        }
        if (!need || k <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            *p++ = '?';
            changed = 1;
            continue;
        }
        p += need + 1;
    }
    return changed;
}

/* ---- setters that skip what the class does not have ------------------
 *
 * One fill function serves both forms of a class; a property that only
 * one form has is simply not set on the other. A NULL string leaves the
 * value NULL. */

static const struct cim_prop *find_prop(const struct cim_instance *i, const char *p)
{
    for (size_t k = 0; k < i->cls->nprops; k++)
        if (strcmp(i->cls->props[k].name, p) == 0)
            return &i->cls->props[k];
#ifdef OS_TEST_PROP_MISS
    OS_TEST_PROP_MISS(i->cls, p);
#endif
    return NULL;
}

static int has_prop(const struct cim_instance *i, const char *p)
{
    return find_prop(i, p) != NULL;
}

int os__is_wmi(const struct cim_instance *i)
{
    return strncmp(i->cls->name, "Win32_", 6) == 0;
}

void os__set_str(struct cim_instance *i, const char *p, const char *s)
{
    if (!s || !has_prop(i, p))
        return;
    char tmp[512], *t = tmp;
    size_t len = strlen(s);
    if (len >= sizeof(tmp) && !(t = wsm__arena_strdup(i->arena, s)))
        return;
    if (t == tmp)
        memcpy(tmp, s, len + 1);
    cim_set_str(i, p, clean_text(t) ? t : s);
}

void os__set_fmt(struct cim_instance *i, const char *p, const char *fmt, ...)
{
    if (!has_prop(i, p))
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    os__set_str(i, p, buf);
}

/* Numbers outside the range of the property's type (odd firmware or
 * procfs content) are left NULL rather than written invalid. */
void os__set_u64(struct cim_instance *i, const char *p, uint64_t v)
{
    const struct cim_prop *d = find_prop(i, p);
    if (!d)
        return;
    uint64_t max = d->type == CIM_UINT8    ? 0xff
                   : d->type == CIM_UINT16 ? 0xffff
                   : d->type == CIM_UINT32 ? 0xffffffff
                                           : UINT64_MAX;
    if (v <= max)
        cim_set_u64(i, p, v);
}

void os__set_s64(struct cim_instance *i, const char *p, int64_t v)
{
    const struct cim_prop *d = find_prop(i, p);
    if (!d)
        return;
    int64_t max = d->type == CIM_SINT8    ? 0x7f
                  : d->type == CIM_SINT16 ? 0x7fff
                  : d->type == CIM_SINT32 ? 0x7fffffff
                                          : INT64_MAX;
    if (v <= max && v >= -max - 1)
        cim_set_s64(i, p, v);
}

void os__set_bool(struct cim_instance *i, const char *p, int v)
{
    if (has_prop(i, p))
        cim_set_bool(i, p, v);
}

void os__set_time(struct cim_instance *i, const char *p, time_t sec, long usec)
{
    if (has_prop(i, p))
        cim_set_time(i, p, sec, usec);
}

void os__set_one(struct cim_instance *i, const char *p, const char *item)
{
    if (has_prop(i, p))
        cim_set_strv(i, p, &item, 1);
}

/* ---- host facts ------------------------------------------------------ */

/* The DNS domain as `hostname -d` finds it: the part after the first dot
 * of the host name if it has one, else of its canonical name. A lookup
 * may wait on DNS, so the answer is kept for ten minutes. "" if none. */
void os__dns_domain(const char *host, char *out, size_t n)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char cached_host[256], cached_domain[256];
    static time_t cached_at;

    const char *dot = strchr(host, '.');
    if (dot) {
        os__copy_str(out, n, dot + 1);
        return;
    }
    time_t now = time(NULL);
    pthread_mutex_lock(&lock);
    if (cached_at && now - cached_at < 600 && now >= cached_at && strcmp(cached_host, host) == 0) {
        os__copy_str(out, n, cached_domain);
        pthread_mutex_unlock(&lock);
        return;
    }
    pthread_mutex_unlock(&lock);

    char domain[256] = "";
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_CANONNAME;
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
        const char *canon = res->ai_canonname;
        const char *d = canon ? strchr(canon, '.') : NULL;
        if (d)
            os__copy_str(domain, sizeof(domain), d + 1);
    }
    if (res)
        freeaddrinfo(res);

    pthread_mutex_lock(&lock);
    os__copy_str(cached_host, sizeof(cached_host), host);
    os__copy_str(cached_domain, sizeof(cached_domain), domain);
    cached_at = now ? now : 1;
    pthread_mutex_unlock(&lock);
    os__copy_str(out, n, domain);
}

/* A value from a KEY=VALUE file in the os-release(5) syntax (shell-like
 * quoting, comments). 1 if found, 0 if not, -1 if unreadable. */
int os__kv_file_get(const char *path, const char *key, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[4096];
    size_t klen = strlen(key);
    int found = 0;
    for (long lines = 0; lines < 10000 && os__read_line(f, line, sizeof(line)); lines++) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (strncmp(s, "export ", 7) == 0)
            s += 7;
        if (strncmp(s, key, klen) != 0 || s[klen] != '=')
            continue;
        s += klen + 1;
        /* Unquote into out; the last assignment wins, as in the shell. */
        size_t o = 0;
        char q = 0;
        for (; *s; s++) {
            char c = *s;
            if (q == '\'') {
                if (c == '\'') {
                    q = 0;
                    continue;
                }
            } else if (c == '\\' && s[1] && (!q || strchr("\"\\$`", s[1]))) {
                c = *++s;
            } else if (c == '"' || c == '\'') {
                if (q == c) {
                    q = 0;
                    continue;
                }
                if (!q) {
                    q = c;
                    continue;
                }
            } else if (!q && (c == ' ' || c == '\t' || c == '#')) {
                break;
            }
            if (o + 1 < n)
                out[o++] = c;
        }
        if (n)
            out[o] = '\0';
        found = 1;
    }
    fclose(f);
    return found;
}

/* os-release(5): /etc/os-release, or /usr/lib/os-release when the first
 * does not exist. */
int os__os_release(const char *key, char *out, size_t n)
{
    char path[512];
    int r = os__kv_file_get(os__host_path(path, sizeof(path), "/etc/os-release"), key, out, n);
    if (r < 0)
        r = os__kv_file_get(os__host_path(path, sizeof(path), "/usr/lib/os-release"), key, out, n);
    return r > 0 && out[0];
}

int os__meminfo_read(const char *path, struct meminfo *m)
{
    memset(m, 0, sizeof(*m));
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    int have_st = 0, have_sf = 0;
    for (long lines = 0; lines < 10000 && os__read_line(f, line, sizeof(line)); lines++) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *end;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!isdigit((unsigned char)*v))
            continue;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno)
            continue;
        if (strcmp(line, "MemTotal") == 0) {
            m->total = x;
            m->have_total = 1;
        } else if (strcmp(line, "MemFree") == 0) {
            m->free = x;
            m->have_free = 1;
        } else if (strcmp(line, "MemAvailable") == 0) {
            m->avail = x;
            m->have_avail = 1;
        } else if (strcmp(line, "SwapTotal") == 0) {
            m->swap_total = x;
            have_st = 1;
        } else if (strcmp(line, "SwapFree") == 0) {
            m->swap_free = x;
            have_sf = 1;
        }
    }
    fclose(f);
    m->have_swap = have_st && have_sf;
    return m->have_total ? 0 : -1;
}

/* Memory the kernel could hand out now: MemAvailable, or MemFree on
 * kernels older than 3.14. */
int os__mem_free_kb(const struct meminfo *m, unsigned long long *out)
{
    if (m->have_avail)
        *out = m->avail;
    else if (m->have_free)
        *out = m->free;
    else
        return -1;
    return 0;
}

/* The boot time: btime of /proc/stat (whole seconds, stable from one call
 * to the next), else now minus /proc/uptime. */
int os__boot_time(time_t *sec, long *usec)
{
    char path[512];
    FILE *f = fopen(os__host_path(path, sizeof(path), "/proc/stat"), "re");
    if (f) {
        char line[256];
        int found = 0;
        for (long lines = 0; lines < MAX_LINES && os__read_line(f, line, sizeof(line)); lines++) {
            long long bt;
            if (sscanf(line, "btime %lld", &bt) == 1 && bt > 0) {
                *sec = (time_t)bt;
                *usec = 0;
                found = 1;
                break;
            }
        }
        fclose(f);
        if (found)
            return 0;
    }
    char buf[128];
    if (os__read_small(os__host_path(path, sizeof(path), "/proc/uptime"), buf, sizeof(buf)) <= 0)
        return -1;
    char *end;
    double up = strtod(buf, &end);
    if (end == buf || up < 0 || up > 1e10)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long us = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000 - (long long)(up * 1e6);
    if (us < 0)
        return -1;
    *sec = (time_t)(us / 1000000);
    *usec = (long)(us % 1000000);
    return 0;
}

long os__count_processes(void)
{
    char path[512];
    DIR *d = opendir(os__host_path(path, sizeof(path), "/proc"));
    if (!d)
        return -1;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *s = de->d_name;
        if (!*s)
            continue;
        while (isdigit((unsigned char)*s))
            s++;
        if (!*s)
            n++;
    }
    closedir(d);
    return n;
}

/* Sessions of logind (/run/systemd/sessions, class "user*" only), else
 * the live USER_PROCESS records of utmp. -1 if neither exists. */
long os__count_sessions(const char *logind_dir, const char *utmp_path)
{
    DIR *d = opendir(logind_dir);
    if (d) {
        long n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *name = de->d_name;
            size_t len = strlen(name);
            if (name[0] == '.' || (len > 4 && strcmp(name + len - 4, ".ref") == 0))
                continue;
            char path[512], cls[64] = "";
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", logind_dir, name);
            if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue; /* the .ref FIFOs, or gone meanwhile */
            int r = os__kv_file_get(path, "CLASS", cls, sizeof(cls));
            if (r < 0)
                continue;
            if (r == 0 || strncmp(cls, "user", 4) == 0)
                n++;
        }
        closedir(d);
        return n;
    }
    FILE *f = fopen(utmp_path, "re");
    if (!f)
        return -1;
    long n = 0;
    struct utmpx u;
    for (long k = 0; k < 100000 && fread(&u, sizeof(u), 1, f) == 1; k++) {
        if (u.ut_type != USER_PROCESS || u.ut_pid <= 0)
            continue;
        if (kill(u.ut_pid, 0) == 0 || errno == EPERM)
            n++;
    }
    fclose(f);
    return n;
}

/* Decodes the \ooo escapes of mountinfo in place. */
static void unescape_octal(char *s)
{
    char *o = s;
    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 4;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
}

/* The source of the topmost mount on "/" in a mountinfo file. */
int os__root_source(const char *path, char *out, size_t n)
{
    return os__mount_source(path, "/", out, n);
}

/* The source of the topmost mount on mnt in a mountinfo file. */
int os__mount_source(const char *path, const char *mnt, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[4096];
    int found = 0;
    for (long lines = 0; lines < MAX_LINES && os__read_line(f, line, sizeof(line)); lines++) {
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        *sep = '\0';
        char *save, *tok = strtok_r(line, " ", &save);
        for (int k = 0; tok && k < 4; k++)
            tok = strtok_r(NULL, " ", &save);
        if (!tok)
            continue;
        unescape_octal(tok);
        if (strcmp(tok, mnt) != 0)
            continue;
        char *fstype = strtok_r(sep + 3, " ", &save);
        char *src = fstype ? strtok_r(NULL, " ", &save) : NULL;
        if (!src)
            continue;
        unescape_octal(src);
        os__copy_str(out, n, src);
        found = 1;
    }
    fclose(f);
    return found ? 0 : -1;
}

/* 64-bit kernels: the machine names of uname(2) that are 64-bit. */
int os__machine_is_64(const char *m)
{
    return strstr(m, "64") != NULL || strcmp(m, "s390x") == 0 || strcmp(m, "alpha") == 0;
}

/* Win32_Processor.Architecture. -1 if WMI has no value for it. */
int os__wmi_architecture(const char *m)
{
    if (strcmp(m, "x86_64") == 0)
        return 9;
    if (m[0] == 'i' && strcmp(m + 2, "86") == 0)
        return 0;
    if (strcmp(m, "aarch64") == 0 || strcmp(m, "arm64") == 0)
        return 12;
    if (strncmp(m, "arm", 3) == 0)
        return 5;
    if (strcmp(m, "ia64") == 0)
        return 6;
    if (strncmp(m, "ppc", 3) == 0)
        return 3;
    if (strncmp(m, "mips", 4) == 0)
        return 1;
    if (strcmp(m, "alpha") == 0)
        return 2;
    return -1;
}

const char *os__wmi_system_type(const char *m)
{
    int a = os__wmi_architecture(m);
    return a == 9 ? "x64-based PC" : a == 0 ? "X86-based PC" : a == 12 ? "ARM64-based PC" : NULL;
}

/* ---- single-instance iterator ----------------------------------------- */

enum wsm_err os__one_open(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    struct one_it *o = calloc(1, sizeof(*o));
    if (!o)
        return WSM_ERR_NOMEM;
    *it = o;
    return WSM_OK;
}

void os__one_close(void *it)
{
    free(it);
}

/* ---- the family ------------------------------------------------------ */

const struct cim_class *const cim_family_os[] = {
    &os__win32_os,  &os__cim_os,  &os__win32_cs,   &os__cim_cs,   &os__win32_cpu, &os__cim_cpu,
    &os__win32_mem, &os__cim_mem, &os__win32_bios, &os__cim_bios, NULL,
};
