/* IpmiHosts: the remote BMCs wsmd fronts (docs/internals/ipmi.md). The
 * file holds passwords, so it must be readable by wsmd's account alone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipmi.h"

#define MAX_FILE (256 * 1024)

/* FreeIPMI's names for its IPMI 2.0 (lanplus) session workarounds, as
 * its tools' --workaround-flags spell them; wsmd-ipmi maps them. */
static const char *const lan20_workarounds[] = {
    "authcap",         "intel20", "supermicro20", "sun20", "opensesspriv", "integritycheckvalue",
    "nochecksumcheck",
};

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > IPMI_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int workarounds_ok(const char *list, const char **bad)
{
    char buf[256];
    if (strlen(list) >= sizeof(buf))
        return 0;
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t i, n = sizeof(lan20_workarounds) / sizeof(lan20_workarounds[0]);
        for (i = 0; i < n && strcasecmp(t, lan20_workarounds[i]); i++)
            ;
        if (i == n) {
            *bad = list; /* reported whole: the token is in buf */
            return 0;
        }
    }
    return 1;
}

/* HOST, HOST:PORT, [V6] or [V6]:PORT. */
static int host_port(const char *s, struct ipmi_bmc *b)
{
    const char *end, *colon;
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (!end || end == s + 1)
            return 0;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] && !colon)
            return 0;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            return 0; /* a bare IPv6 address: use [..] */
        end = colon ? colon : s + strlen(s);
    }
    size_t n = (size_t)(end - s);
    if (!n || n > IPMI_HOST_MAX)
        return 0;
    memcpy(b->host, s, n);
    b->host[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (b->host[i] <= ' ' || b->host[i] == '/' || b->host[i] == '@')
            return 0;
    b->port = 623;
    if (colon) {
        char *e;
        errno = 0;
        unsigned long p = strtoul(colon + 1, &e, 10);
        if (!colon[1] || *e || errno || p == 0 || p > 65535)
            return 0;
        b->port = (unsigned)p;
    }
    return 1;
}

static int option(char *tok, struct ipmi_bmc *b, const char **why)
{
    char *eq = strchr(tok, '=');
    if (!eq) {
        *why = "expected key=value after the password";
        return 0;
    }
    *eq = '\0';
    const char *v = eq + 1;
    char *e;
    errno = 0;
    if (!strcasecmp(tok, "cipher")) {
        unsigned long c = strtoul(v, &e, 10);
        if (!*v || *e || errno || c > 17) {
            *why = "cipher must be an IPMI 2.0 cipher suite id (0-17)";
            return 0;
        }
        b->cipher = (int)c;
    } else if (!strcasecmp(tok, "workaround") || !strcasecmp(tok, "workarounds")) {
        const char *bad = NULL;
        if (!*v || !workarounds_ok(v, &bad)) {
            *why = "unknown workaround (FreeIPMI's IPMI 2.0 names: authcap, intel20, "
                   "supermicro20, sun20, opensesspriv, integritycheckvalue, nochecksumcheck)";
            return 0;
        }
        snprintf(b->workarounds, sizeof(b->workarounds), "%s", v);
    } else if (!strcasecmp(tok, "privilege")) {
        if (!strcasecmp(v, "user"))
            b->privilege = 2;
        else if (!strcasecmp(v, "operator"))
            b->privilege = 3;
        else if (!strcasecmp(v, "admin"))
            b->privilege = 4;
        else {
            *why = "privilege must be user, operator or admin";
            return 0;
        }
    } else if (!strcasecmp(tok, "timeout")) {
        unsigned long t = strtoul(v, &e, 10);
        if (!*v || *e || errno || t < 100 || t > 60000) {
            *why = "timeout must be milliseconds, 100 to 60000";
            return 0;
        }
        b->timeout_ms = (unsigned)t;
    } else {
        *why = "unknown option (cipher=, workaround=, privilege=, timeout=)";
        return 0;
    }
    return 1;
}

static int parse_line(char *line, struct ipmi_bmc *b, const char **why)
{
    char *tok[8], *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == sizeof(tok) / sizeof(tok[0])) {
            *why = "too many fields";
            return 0;
        }
        tok[n++] = t;
    }
    if (n < 4) {
        *why = "expected NAME HOST:PORT USER PASSWORD [cipher=N] [workaround=FLAG,...]";
        return 0;
    }
    memset(b, 0, sizeof(*b));
    b->cipher = -1;
    if (!name_ok(tok[0])) {
        *why = "the name must be 1-64 letters, digits, '-', '_' or '.'";
        return 0;
    }
    snprintf(b->name, sizeof(b->name), "%s", tok[0]);
    if (!host_port(tok[1], b)) {
        *why = "bad HOST:PORT";
        return 0;
    }
    if (strlen(tok[2]) > IPMI_USER_MAX || strlen(tok[3]) > IPMI_PASS_MAX) {
        *why = "IPMI allows users of 16 bytes and passwords of 20 at most";
        return 0;
    }
    snprintf(b->user, sizeof(b->user), "%s", tok[2]);
    snprintf(b->password, sizeof(b->password), "%s", tok[3]);
    for (size_t i = 4; i < n; i++)
        if (!option(tok[i], b, why))
            return 0;
    return 1;
}

enum wsm_err wsmd__ipmi_hosts_parse(const char *text, size_t len, struct ipmi_hosts *out, char *err,
                                    size_t errn)
{
    struct ipmi_hosts h = {0};
    enum wsm_err e = WSM_OK;
    unsigned lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end && !e) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        char line[1024];
        const char *why = NULL;
        if (l >= sizeof(line)) {
            why = "line too long";
        } else {
            memcpy(line, p, l);
            line[l] = '\0';
            if (memchr(p, '\0', l))
                why = "a NUL byte";
            char *hash = strchr(line, '#');
            if (hash)
                *hash = '\0';
            size_t k = strlen(line);
            while (k && (line[k - 1] == '\r' || line[k - 1] == ' ' || line[k - 1] == '\t'))
                line[--k] = '\0';
            if (!why && line[strspn(line, " \t")]) {
                struct ipmi_bmc b;
                if (h.n == IPMI_MAX_BMCS)
                    why = "too many BMCs (at most 256)";
                else if (parse_line(line, &b, &why)) {
                    for (size_t i = 0; i < h.n && !why; i++)
                        if (!strcmp(h.b[i].name, b.name))
                            why = "a BMC of that name is already listed";
                    if (!why) {
                        struct ipmi_bmc *nb = realloc(h.b, (h.n + 1) * sizeof(*nb));
                        if (!nb)
                            e = WSM_ERR_NOMEM;
                        else {
                            h.b = nb;
                            h.b[h.n++] = b;
                        }
                    }
                }
                memset(&b, 0, sizeof(b));
            }
            memset(line, 0, sizeof(line));
        }
        if (why) {
            snprintf(err, errn, "line %u: %s", lineno, why);
            e = WSM_ERR_INVALID_ARG;
        }
        p = nl ? nl + 1 : end;
    }
    if (e) {
        wsmd__ipmi_hosts_clear(&h);
        return e;
    }
    *out = h;
    return WSM_OK;
}

enum wsm_err wsmd__ipmi_hosts_load(const char *path, uid_t owner, struct ipmi_hosts *out, char *err,
                                   size_t errn)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errn, "cannot open it: %s", strerror(errno));
        return WSM_ERR_IO;
    }
    struct stat st;
    enum wsm_err e = WSM_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errn, "not a regular file");
        e = WSM_ERR_INVALID_ARG;
    } else if (st.st_mode & 077) {
        /* It holds the BMCs' passwords. */
        snprintf(err, errn,
                 "it is readable or writable by other users (mode %04o; chmod 600 it): it holds "
                 "the BMCs' passwords",
                 (unsigned)(st.st_mode & 07777));
        e = WSM_ERR_ACCESS_DENIED;
    } else if (st.st_uid != geteuid() && st.st_uid != 0 && st.st_uid != owner) {
        snprintf(err, errn, "it belongs to uid %u, neither wsmd's accounts nor root",
                 (unsigned)st.st_uid);
        e = WSM_ERR_ACCESS_DENIED;
    } else if (st.st_size > MAX_FILE) {
        snprintf(err, errn, "larger than %d bytes", MAX_FILE);
        e = WSM_ERR_INVALID_ARG;
    }
    char *text = NULL;
    size_t n = 0;
    if (!e && !(text = malloc((size_t)st.st_size + 1)))
        e = WSM_ERR_NOMEM;
    while (!e) {
        ssize_t r = read(fd, text + n, (size_t)st.st_size + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errn, "cannot read it: %s", strerror(errno));
            e = WSM_ERR_IO;
        } else if (r == 0) {
            break;
        } else if ((n += (size_t)r) > (size_t)st.st_size) {
            snprintf(err, errn, "it grew while being read");
            e = WSM_ERR_IO;
        }
    }
    close(fd);
    if (!e)
        e = wsmd__ipmi_hosts_parse(text, n, out, err, errn);
    if (text) {
        memset(text, 0, n);
        free(text);
    }
    return e;
}

void wsmd__ipmi_hosts_clear(struct ipmi_hosts *h)
{
    if (h->b) {
        /* volatile: the wipe of passwords must not be optimized away */
        volatile unsigned char *p = (volatile unsigned char *)h->b;
        for (size_t i = 0; i < h->n * sizeof(*h->b); i++)
            p[i] = 0;
    }
    free(h->b);
    h->b = NULL;
    h->n = 0;
}
