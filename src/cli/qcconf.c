/* winrm quickconfig: wsmd's configuration file as quickconfig reads it
 * (its Listen lines and certificate), the plan of stage 2 (which Listen
 * lines to remove and add, which certificate) and that plan as one edit
 * of the file through wsmd's own editor (src/daemon/cfgfile.c). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cfgfile.h"
#include "format.h"
#include "qccert.h"
#include "qc_priv.h"

/* ---- the configuration file ---------------------------------------------- */

/* One Listen value as wsmd reads it (config.c); 0 if it does not. */
static int parse_listen(const char *v, struct listen *l)
{
    memset(l, 0, sizeof(*l));
    const char *p;
    if (!strncasecmp(v, "http://", 7)) {
        p = v + 7;
        l->port = 5985;
    } else if (!strncasecmp(v, "https://", 8)) {
        p = v + 8;
        l->https = 1;
        l->port = 5986;
    } else {
        return 0;
    }
    const char *he;
    if (*p == '[') {
        he = strchr(p, ']');
        if (!he || (size_t)(he - p - 1) >= sizeof(l->host))
            return 0;
        memcpy(l->host, p + 1, (size_t)(he - p - 1));
        he++;
    } else {
        he = p + strcspn(p, ":/");
        if (he == p || (size_t)(he - p) >= sizeof(l->host))
            return 0;
        memcpy(l->host, p, (size_t)(he - p));
    }
    if (!strcmp(l->host, "localhost"))
        strcpy(l->host, "127.0.0.1");
    if (*he == ':')
        l->port = atoi(he + 1);
    l->v6 = strchr(l->host, ':') != NULL;
    l->any = !strcmp(l->host, "0.0.0.0") || !strcmp(l->host, "::");
    snprintf(l->value, sizeof(l->value), "%s", v);
    return 1;
}

int wsmd__qc_read_config(struct qc *q, char *why, size_t n)
{
    FILE *f = fopen(q->real, "re");
    if (!f) {
        snprintf(why, n, "cannot read %.300s: %s", q->real, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        struct wsmd_cfgline c;
        size_t len = strcspn(line, "\n");
        if (!wsmd__cfgfile_scan(line, len, &c))
            continue;
        char key[64], val[PATH_MAX];
        snprintf(key, sizeof(key), "%.*s", (int)(c.ke - c.ks), line + c.ks);
        snprintf(val, sizeof(val), "%.*s", (int)(c.ve - c.vs), line + c.vs);
        if (!strcasecmp(key, "Listen") && q->nl < MAX_LISTEN && parse_listen(val, &q->l[q->nl])) {
            q->nl++;
            q->from_file = 1;
        } else if (!strcasecmp(key, "CertificateFile")) {
            snprintf(q->cert_cfg, sizeof(q->cert_cfg), "%s", val);
        } else if (!strcasecmp(key, "KeyFile")) {
            snprintf(q->key_cfg, sizeof(q->key_cfg), "%s", val);
        }
    }
    fclose(f);
    if (!q->from_file) {
        /* wsmd's embedded default (main.c): in effect, but on no line. */
        parse_listen("http://127.0.0.1:5985", &q->l[0]);
        q->l[0].value[0] = '\0';
        q->nl = 1;
    }
    return 0;
}

/* What stage 2 changes: Listen lines removed and added, the certificate. */

int wsmd__qc_plan_listener(struct qc *q, struct plan *p, char *why, size_t n)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < q->nl; i++)
        if (q->l[i].any && q->l[i].https == q->https)
            p->configured = 1;
    if (p->configured)
        return 0;
    /* The port: -port:, else the one this transport already uses (on a
     * narrower address), else Windows' default. */
    p->port = q->port ? (int)q->port : q->https ? 5986 : 5985;
    for (size_t i = 0; i < q->nl && !q->port; i++)
        if (q->l[i].https == q->https) {
            p->port = q->l[i].port;
            break;
        }
    int default_replaced = 0;
    for (size_t i = 0; i < q->nl; i++) {
        const struct listen *l = &q->l[i];
        if (l->port != p->port || l->v6)
            continue; /* IPv6 sockets are IPv6-only (listen.c): no clash */
        if (l->https != q->https) {
            snprintf(why, n,
                     "port %d is already used by the listener %s; choose another with -port:",
                     p->port, l->value[0] ? l->value : "http://127.0.0.1:5985 (the default)");
            return -1;
        }
        /* The same transport on one IPv4 address: 0.0.0.0 serves it too,
         * and both cannot be bound. */
        if (l->value[0])
            snprintf(p->remove[p->nremove++], sizeof(p->remove[0]), "%s", l->value);
        else
            default_replaced = 1;
    }
    if (!q->from_file && !default_replaced)
        snprintf(p->keep, sizeof(p->keep), "http://127.0.0.1:5985");
    snprintf(p->add, sizeof(p->add), "%s://0.0.0.0:%d", q->https ? "https" : "http", p->port);
    if (!q->https)
        return 0;
    if (q->cert) {
        const char *bad = !realpath(q->cert, p->cert_path) ? q->cert
                          : !realpath(q->key, p->key_path) ? q->key
                                                           : NULL;
        if (bad) {
            snprintf(why, n, "cannot find %.300s: %s", bad, strerror(errno));
            return -1;
        }
        p->set_cert = strcmp(p->cert_path, q->cert_cfg) || strcmp(p->key_path, q->key_cfg);
        return 0;
    }
    if (q->cert_cfg[0] && q->key_cfg[0]) {
        snprintf(p->cert_path, sizeof(p->cert_path), "%s", q->cert_cfg);
        snprintf(p->key_path, sizeof(p->key_path), "%s", q->key_cfg);
        return 0;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", q->real);
    snprintf(p->cert_path, sizeof(p->cert_path), "%s/quickconfig-cert.pem", dirname(dir));
    snprintf(dir, sizeof(dir), "%s", q->real);
    snprintf(p->key_path, sizeof(p->key_path), "%s/quickconfig-key.pem", dirname(dir));
    p->set_cert = 1;
    /* Made by an earlier run that stopped before the file was written:
     * used, never overwritten. */
    p->make_cert = access(p->cert_path, F_OK) != 0 || access(p->key_path, F_OK) != 0;
    if (p->make_cert) {
        char h[256] = "";
        gethostname(h, sizeof(h) - 1);
        struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *res = NULL;
        if (getaddrinfo(h, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
            strchr(res->ai_canonname, '.'))
            snprintf(p->host, sizeof(p->host), "%s", res->ai_canonname);
        else
            snprintf(p->host, sizeof(p->host), "%s", h);
        if (res)
            freeaddrinfo(res);
    }
    return 0;
}

static int same_value(const char *a, const char *b)
{
    return !strcasecmp(a, b);
}

/* The plan as one edit of the file (one atomic write): the replaced
 * Listen line out, the embedded default written out, the certificate
 * keys, the new Listen line last. */
enum wsm_err wsmd__qc_apply_plan(const char *text, size_t len, void *arg, struct wsm_buf *out)
{
    const struct plan *p = arg;
    struct wsm_buf a, b;
    wsm__buf_init(&a, 0);
    wsm__buf_init(&b, 0);
    unsigned removed;
    enum wsm_err e = wsmd__cfgfile_lines_text(text, len, "Listen", p->keep[0] ? p->keep : NULL,
                                              NULL, NULL, &a, &removed);
    for (size_t i = 0; i < p->nremove && !e; i++) {
        wsm__buf_reset(&b);
        e = wsmd__cfgfile_lines_text(a.data ? a.data : "", a.len, "Listen", NULL, p->remove[i],
                                     same_value, &b, &removed);
        struct wsm_buf t = a;
        a = b;
        b = t;
    }
    wsm__buf_reset(&b);
    if (!e && p->set_cert) {
        struct wsmd_cfgedit ed[] = {{"CertificateFile", p->cert_path}, {"KeyFile", p->key_path}};
        e = wsmd__cfgfile_set_text(a.data ? a.data : "", a.len, ed, 2, &b);
    } else if (!e) {
        e = wsm__buf_add(&b, a.data ? a.data : "", a.len);
    }
    if (!e)
        e = wsmd__cfgfile_lines_text(b.data ? b.data : "", b.len, "Listen", p->add, NULL, NULL, out,
                                     &removed);
    wsm__buf_free(&a);
    wsm__buf_free(&b);
    return e;
}
