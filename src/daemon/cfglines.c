/* winrm/config listeners and certificate mappings (cfglisten.c,
 * cfgcertmap.c): their pure parts -- the listener keys as a URL, the port
 * rule, which Listen and CertMapping lines name the same thing -- and the
 * configuration file's lines appended or removed, through wsmd's one
 * file editor (cfgfile.c: temp file + fsync + rename, every other line
 * kept byte for byte). */
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

#include "cfgfile.h"
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

/* ---- the configuration file: through the one editor (cfgfile.c) -------- */

enum wsm_err wsmd__cfgl_edit_text(const char *text, const char *key, const char *add,
                                  const char *remove, int (*same)(const char *, const char *),
                                  char **out, unsigned *removed)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    enum wsm_err e =
        wsmd__cfgfile_lines_text(text, strlen(text), key, add, remove, same, &b, removed);
    if (!e)
        e = wsm__buf_puts(&b, ""); /* NUL-terminated, even when empty */
    if (e) {
        wsm__buf_free(&b);
        return e;
    }
    *out = b.data; /* the buffer's malloc'd storage */
    return WSM_OK;
}

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
    enum wsm_err e = wsmd__cfgfile_edit_lines(cfg_path, key, add, remove, same, removed);
    if (e)
        return e == WSM_ERR_NOT_FOUND ? WSM_ERR_IO : e;
    wsmd__log("event=config-written file=%s %s=\"%s\"", cfg_path, add ? "added" : "removed",
              add ? add : remove);
    return WSM_OK;
}
