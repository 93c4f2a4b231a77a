/* winrm/config listeners and certificate mappings (cfglisten.c,
 * cfgcertmap.c): their pure parts -- the listener keys as a URL, the port
 * rule, which Listen and CertMapping lines name the same thing -- and the
 * configuration file's lines appended or removed (temp file + fsync +
 * rename, every other line kept byte for byte). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfglisten.h"
#include "cfglisten_priv.h"
#include "config.h"
#include "server.h"

static char *cfg_path;

void wsmd__cfgl_set_file(const char *path)
{
    free(cfg_path);
    cfg_path = NULL;
    if (!path)
        return;
    /* Absolute: the network process works in "/". */
    char buf[PATH_MAX];
    cfg_path = strdup(realpath(path, buf) ? buf : path);
}

/* ---- pure parts ---------------------------------------------------------- */

int wsmd__cfgl_port_allowed(long port)
{
    return port == 80 || port == 443 || (port >= 1024 && port <= 65535);
}

enum wsm_err wsmd__cfgl_listener_url(const char *address, const char *transport, long port,
                                     char *url, size_t n)
{
    int https;
    if (!address || !transport)
        return WSM_ERR_INVALID_SELECTORS;
    if (!strcasecmp(transport, "HTTP"))
        https = 0;
    else if (!strcasecmp(transport, "HTTPS"))
        https = 1;
    else
        return WSM_ERR_INVALID_SELECTORS;
    char host[INET6_ADDRSTRLEN + 2];
    if (!strcmp(address, "*")) {
        strcpy(host, "0.0.0.0");
    } else if (!strncasecmp(address, "IP:", 3)) {
        const char *a = address + 3;
        size_t len = strlen(a);
        if (len >= 2 && a[0] == '[' && a[len - 1] == ']') {
            a++;
            len -= 2;
        }
        char tmp[INET6_ADDRSTRLEN];
        if (len == 0 || len >= sizeof(tmp))
            return WSM_ERR_INVALID_SELECTORS;
        memcpy(tmp, a, len);
        tmp[len] = '\0';
        struct in_addr a4;
        struct in6_addr a6;
        char canon[INET6_ADDRSTRLEN];
        if (inet_pton(AF_INET, tmp, &a4) == 1)
            inet_ntop(AF_INET, &a4, canon, sizeof(canon));
        else if (inet_pton(AF_INET6, tmp, &a6) == 1)
            inet_ntop(AF_INET6, &a6, canon, sizeof(canon));
        else
            return WSM_ERR_INVALID_SELECTORS;
        snprintf(host, sizeof(host), strchr(canon, ':') ? "[%s]" : "%s", canon);
    } else {
        return WSM_ERR_INVALID_SELECTORS;
    }
    if (port < 1 || port > 65535)
        return WSM_ERR_INVALID_ARG;
    int w = snprintf(url, n, "%s://%s:%ld/wsman", https ? "https" : "http", host, port);
    return w > 0 && (size_t)w < n ? WSM_OK : WSM_ERR_INVALID_ARG;
}

/* One Listen value as config.c reads it (quietly: a bad one is no match). */
int wsmd__cfgl_parse_listen(const char *url, struct wsmd_listener *out)
{
    static struct wsmd_config tmp; /* large: one, under its lock */
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    /* config.c says what is wrong on stderr, with the text: printable
     * ASCII only (the monitor gets it from the network process). */
    size_t n = strlen(url);
    if (n == 0 || n >= sizeof(tmp.listeners[0].url))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (url[i] <= ' ' || url[i] > '~' || url[i] == '"')
            return 0;
    pthread_mutex_lock(&m);
    tmp.nlisteners = 0;
    int ok = wsmd__config_add_listener(&tmp, url) == WSM_OK;
    if (ok)
        *out = tmp.listeners[0];
    pthread_mutex_unlock(&m);
    return ok;
}

int wsmd__cfgl_same_host(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;
    if (fa != fb || inet_pton(fa, a, x) != 1 || inet_pton(fb, b, y) != 1)
        return 0;
    return memcmp(x, y, fa == AF_INET ? 4 : 16) == 0;
}

int wsmd__cfgl_same_listen(const char *a, const char *b)
{
    struct wsmd_listener la, lb;
    return wsmd__cfgl_parse_listen(a, &la) && wsmd__cfgl_parse_listen(b, &lb) &&
           la.https == lb.https && la.port == lb.port && wsmd__cfgl_same_host(la.host, lb.host);
}

/* ---- the configuration file ----------------------------------------------- */

enum wsm_err wsmd__cfgl_edit_text(const char *text, const char *key, const char *add,
                                  const char *remove, int (*same)(const char *, const char *),
                                  char **out, unsigned *removed)
{
    size_t tl = strlen(text), kl = strlen(key);
    size_t cap = tl + (add ? strlen(add) : 0) + kl + 8;
    char *o = malloc(cap);
    if (!o)
        return WSM_ERR_NOMEM;
    size_t ol = 0;
    *removed = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) + 1 : strlen(p);
        int drop = 0;
        if (remove && same) {
            /* As config.c reads a line: '#' ends it, "Key = value" trimmed. */
            char line[1024];
            size_t cl = ll < sizeof(line) ? ll : sizeof(line) - 1;
            memcpy(line, p, cl);
            line[cl] = '\0';
            char *h = strchr(line, '#');
            if (h)
                *h = '\0';
            char *k = line;
            while (isspace((unsigned char)*k))
                k++;
            char *eq = strchr(k, '=');
            if (eq) {
                char *ke = eq;
                while (ke > k && isspace((unsigned char)ke[-1]))
                    ke--;
                char *v = eq + 1;
                while (isspace((unsigned char)*v))
                    v++;
                size_t vl = strlen(v);
                while (vl && isspace((unsigned char)v[vl - 1]))
                    v[--vl] = '\0';
                if ((size_t)(ke - k) == kl && !strncasecmp(k, key, kl) && same(v, remove))
                    drop = 1;
            }
        }
        if (drop) {
            (*removed)++;
        } else {
            memcpy(o + ol, p, ll);
            ol += ll;
        }
        p += ll;
    }
    if (add) {
        if (ol && o[ol - 1] != '\n')
            o[ol++] = '\n';
        ol += (size_t)sprintf(o + ol, "%s = %s\n", key, add);
    }
    o[ol] = '\0';
    *out = o;
    return WSM_OK;
}

/* Rewrites the configuration file with one line added or removed: the
 * whole text to a temporary file beside it (same owner and mode), fsync,
 * rename over it; a reader sees the old file or the new one. */
enum wsm_err wsmd__cfgl_file_edit(const char *key, const char *add, const char *remove,
                                  int (*same)(const char *, const char *), unsigned *removed)
{
    *removed = 0;
    if (!cfg_path) {
        wsmd__log("event=notice message=\"no configuration file (wsmd -c): the %s change is "
                  "live only\"",
                  key);
        return WSM_OK;
    }
    int fd = open(cfg_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        if (fd >= 0)
            close(fd);
        return WSM_ERR_IO;
    }
    char *text = malloc((size_t)st.st_size + 1);
    ssize_t got = text ? read(fd, text, (size_t)st.st_size) : -1;
    close(fd);
    if (got != (ssize_t)st.st_size) {
        free(text);
        return WSM_ERR_IO;
    }
    text[got] = '\0';
    char *out = NULL;
    enum wsm_err e = wsmd__cfgl_edit_text(text, key, add, remove, same, &out, removed);
    free(text);
    if (e)
        return e;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", cfg_path);
    int t = mkostemp(tmp, O_CLOEXEC);
    if (t < 0) {
        free(out);
        return WSM_ERR_IO;
    }
    size_t len = strlen(out);
    int ok =
        fchmod(t, st.st_mode & 07777) == 0 && write(t, out, len) == (ssize_t)len && fsync(t) == 0;
    if (ok && fchown(t, st.st_uid, st.st_gid) != 0 && geteuid() == 0)
        ok = 0;
    free(out);
    if (close(t) != 0 || !ok || rename(tmp, cfg_path) != 0) {
        unlink(tmp);
        return WSM_ERR_IO;
    }
    wsmd__log("event=config-written file=%s %s=\"%s\"", cfg_path, add ? "added" : "removed",
              add ? add : remove);
    return WSM_OK;
}
