#include "cim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

int cim_prop_index(const struct cim_class *c, const char *name)
{
    for (size_t i = 0; i < c->nprops; i++)
        if (strcasecmp(c->props[i].name, name) == 0)
            return (int)i;
    return -1;
}

static struct cim_val *slot(struct cim_instance *i, const char *prop)
{
    int k = cim_prop_index(i->cls, prop);
    if (k < 0) {
#ifndef NDEBUG
        fprintf(stderr, "cim: %s has no property %s\n", i->cls->name, prop);
        abort();
#else
        return NULL;
#endif
    }
    return &i->v[k];
}

void cim_set_str(struct cim_instance *i, const char *prop, const char *s)
{
    struct cim_val *v = slot(i, prop);
    if (v)
        v->s = s ? wsm__arena_strdup(i->arena, s) : NULL;
}

void cim_set_fmt(struct cim_instance *i, const char *prop, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        cim_set_str(i, prop, tmp);
        return;
    }
    char *big = wsm__arena_alloc(i->arena, (size_t)n + 1);
    if (!big)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    struct cim_val *v = slot(i, prop);
    if (v)
        v->s = big;
}

void cim_set_u64(struct cim_instance *i, const char *prop, uint64_t v)
{
    cim_set_fmt(i, prop, "%llu", (unsigned long long)v);
}

void cim_set_s64(struct cim_instance *i, const char *prop, int64_t v)
{
    cim_set_fmt(i, prop, "%lld", (long long)v);
}

void cim_set_bool(struct cim_instance *i, const char *prop, int v)
{
    cim_set_str(i, prop, v ? "true" : "false");
}

void cim_set_time(struct cim_instance *i, const char *prop, time_t sec, long usec)
{
    struct tm tm;
    if (!gmtime_r(&sec, &tm))
        return;
    cim_set_fmt(i, prop, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
}

void cim_set_strv(struct cim_instance *i, const char *prop, const char *const *items, size_t n)
{
    struct cim_val *v = slot(i, prop);
    if (!v)
        return;
    v->s = NULL;
    v->n = 0;
    v->items = NULL;
    if (!items)
        return;
    const char **arr = wsm__arena_alloc(i->arena, (n ? n : 1) * sizeof(*arr));
    if (!arr)
        return;
    for (size_t k = 0; k < n; k++) {
        arr[k] = wsm__arena_strdup(i->arena, items[k] ? items[k] : "");
        if (!arr[k])
            return;
    }
    v->items = arr;
    v->n = n;
}

const char *cim_get(const struct cim_instance *i, const char *prop)
{
    int k = cim_prop_index(i->cls, prop);
    return k < 0 ? NULL : i->v[k].s;
}

const char *cim_read_file(struct wsm_arena *a, const char *path)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (r < 0) {
            close(fd);
            return NULL;
        }
        if (r == 0 || (n += (size_t)r) == sizeof(buf) - 1)
            break;
    }
    close(fd);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    return wsm__arena_strndup(a, buf, n);
}

void cim_system_name(char *buf, size_t n)
{
    if (n == 0)
        return;
    /* Room for any name the kernel holds (64 bytes), so gethostname never
     * fails for want of room; the caller's buffer may cut it. */
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, n, "%s", host);
}

enum wsm_err cim_errno_shortage(int err)
{
    switch (err) {
    case ENOMEM:
    case ENOBUFS:
        return WSM_ERR_NOMEM;
    case EMFILE:
    case ENFILE:
        return WSM_ERR_IO;
    default:
        return WSM_OK;
    }
}

/* The message of the fault a provider is about to return, per thread:
 * the request's handler runs on one thread from open to the fault. */
static __thread char fault_msg[512];

void cim_fault_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fault_msg, sizeof(fault_msg), fmt, ap);
    va_end(ap);
}

const char *cim_fault_message_take(struct wsm_arena *a)
{
    if (!fault_msg[0] || !a) {
        fault_msg[0] = '\0'; /* a NULL arena: just forget it */
        return NULL;
    }
    const char *m = wsm__arena_strdup(a, fault_msg);
    fault_msg[0] = '\0';
    return m;
}
