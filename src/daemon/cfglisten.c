/* Listeners and certificate mappings changed live and persisted:
 *
 *   winrm create winrm/config/listener?Address=*+Transport=HTTP @{Port="5987"}
 *   winrm delete winrm/config/listener?Address=IP:127.0.0.2+Transport=HTTP
 *   winrm create winrm/config/service/certmapping?Issuer=T+Subject=S+URI=* @{UserName="u"}
 *
 * A change is made in three places, in this order: the configuration file
 * (a Listen or CertMapping line appended or removed, temp file + rename,
 * every other line kept), the process that owns the privilege (under
 * privilege separation the monitor binds the socket and writes the file,
 * PS_CFG_LISTEN / PS_CFG_CERTMAP), and the running network process (the
 * listener started or quiesced, the mappings replaced). The file part is
 * kept apart (section "the configuration file") so that it can move onto
 * the general config-file editor. Certificate mappings: cfgcertmap.c.
 * See docs/internals/winrm-config.md. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz.h"
#include "certauth.h"
#include "cfglisten.h"
#include "cfglisten_priv.h"
#include "config.h"
#include "ns.h"
#include "privsep.h"
#include "pswire.h"
#include "reloadlisten.h"
#include "thumbprint.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "cimops.h"
#endif

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define URI_LISTENER WSM_NS_CFG "/listener"

static pthread_mutex_t cfgl_mutex = PTHREAD_MUTEX_INITIALIZER;

void wsmd__cfgl_lock(void)
{
    pthread_mutex_lock(&cfgl_mutex);
}

void wsmd__cfgl_unlock(void)
{
    pthread_mutex_unlock(&cfgl_mutex);
}

/* ---- privileged parts: an unseparated wsmd's own, or the monitor's -------- */

/* Binds url (checked against the port rule). */
static enum wsm_err listen_bind(const char *url, struct wsmd_listener *l)
{
    if (!wsmd__cfgl_parse_listen(url, l))
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__cfgl_port_allowed(l->port))
        return WSM_ERR_ACCESS_DENIED;
    char why[300];
    if (wsmd__bind_listener(l, why, sizeof(why)) != 0) {
        wsmd__log("event=listener-error url=%s error=\"%s\"", url, why);
        return errno == EADDRINUSE ? WSM_ERR_ALREADY_EXISTS : WSM_ERR_IO;
    }
    return WSM_OK;
}

/* Under privilege separation the monitor trusts no claim of the network
 * process: the name must have authenticated through it, and hold
 * config-write by the monitor's own reading of the Allow lines. */
int wsmd__cfgl_monitor_may(struct wsmd_server *srv, const char *user)
{
    static struct wsmd_authz *az;
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    if (!*user || !wsmd__monitor_authed(user))
        return 0;
    pthread_mutex_lock(&m);
    if (!az && wsmd__authz_new(&srv->cfg, 1, &az) != WSM_OK)
        az = NULL;
    pthread_mutex_unlock(&m);
    if (!az)
        return 0;
    static struct wsmd_server view; /* only authz and is_root are read */
    static pthread_mutex_t vm = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&vm);
    view.authz = az;
    view.is_root = 1;
    unsigned r = wsmd__authz_rights(&view, user);
    pthread_mutex_unlock(&vm);
    return (r & WSMD_RIGHT_CONFIG_WRITE) != 0;
}

enum wsm_err wsmd__cfgl_monitor_listen(struct wsmd_server *srv, struct ps_msg *q, struct ps_msg *a)
{
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    uint32_t op = ps_get_u32(q);
    const char *url = ps_get_str(q, 250);
    if (!ps_end(q) || (op != CFGL_OP_ADD && op != CFGL_OP_REMOVE && op != CFGL_OP_RELOAD))
        return WSM_ERR_INVALID_ARG;
    if (op == CFGL_OP_RELOAD) {
        int fd = -1, port = 0;
        enum wsm_err e = wsmd__reloadl_monitor_bind(srv, url, &fd, &port);
        if (!e) {
            ps_put_i32(a, port);
            ps_put_fd(a, fd);
        }
        return e;
    }
    if (!wsmd__cfgl_monitor_may(srv, user))
        return WSM_ERR_ACCESS_DENIED;
    struct wsmd_listener nl;
    if (!wsmd__cfgl_parse_listen(url, &nl))
        return WSM_ERR_INVALID_ARG;
    struct wsmd_config *cfg = &srv->cfg;
    unsigned removed = 0;
    enum wsm_err e = WSM_OK;
    wsmd__cfgl_lock();
    if (op == CFGL_OP_ADD) {
        for (size_t i = 0; i < cfg->nlisteners && !e; i++)
            if (!cfg->listeners[i].metrics && cfg->listeners[i].https == nl.https &&
                (wsmd__cfgl_same_host(cfg->listeners[i].host, nl.host) ||
                 cfg->listeners[i].port == nl.port))
                e = WSM_ERR_ALREADY_EXISTS;
        if (!e && cfg->nlisteners >= WSMD_MAX_LISTENERS)
            e = WSM_ERR_QUOTA;
        if (!e)
            e = listen_bind(url, &nl);
        if (!e && (e = wsmd__cfgl_file_edit("Listen", url, NULL, NULL, &removed)) != WSM_OK)
            close(nl.lfd);
        if (!e) {
            /* Kept for a network process started again after a crash. */
            cfg->listeners[cfg->nlisteners++] = nl;
            int copy = dup(nl.lfd);
            ps_put_i32(a, nl.port);
            if (copy >= 0)
                ps_put_fd(a, copy);
            else
                e = WSM_ERR_IO;
        }
    } else {
        size_t i = 0;
        for (; i < cfg->nlisteners; i++)
            if (!cfg->listeners[i].metrics && cfg->listeners[i].https == nl.https &&
                cfg->listeners[i].port == nl.port &&
                wsmd__cfgl_same_host(cfg->listeners[i].host, nl.host))
                break;
        if (i == cfg->nlisteners) {
            e = WSM_ERR_NOT_FOUND;
        } else {
            e = wsmd__cfgl_file_edit("Listen", NULL, url, wsmd__cfgl_same_listen, &removed);
            if (cfg->listeners[i].has_lfd)
                close(cfg->listeners[i].lfd);
            memmove(&cfg->listeners[i], &cfg->listeners[i + 1],
                    (cfg->nlisteners - i - 1) * sizeof(cfg->listeners[0]));
            cfg->nlisteners--;
        }
    }
    wsmd__cfgl_unlock();
    return e;
}

/* ---- the network process's side ------------------------------------------- */

static enum wsm_err ps_listen(const char *user, uint32_t op, const char *url, int *port, int *fd)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CFG_LISTEN);
    ps_put_str(&q, user);
    ps_put_u32(&q, op);
    ps_put_str(&q, url);
    enum wsm_err e = wsmd__ps_call(&q, &a);
    if (!e && op == CFGL_OP_ADD) {
        *port = ps_get_i32(&a);
        *fd = ps_take_fd(&a);
        if (!ps_end(&a) || *fd < 0) {
            if (*fd >= 0)
                close(*fd);
            e = WSM_ERR_INTERNAL;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

static int is_any(const char *h)
{
    return !strcmp(h, "0.0.0.0") || !strcmp(h, "::");
}

/* Windows' key of a listener: Address and Transport. */
static int same_key(const struct wsmd_listener *l, const struct wsmd_listener *k)
{
    return l->https == k->https &&
           ((is_any(l->host) && is_any(k->host)) || wsmd__cfgl_same_host(l->host, k->host));
}

/* A thumbprint as Windows users type it: hex, any case, spaces or colons
 * between the bytes. */
static int thumbprint_eq(const char *given, const char *ours)
{
    size_t j = 0;
    for (const char *p = given; *p; p++) {
        if (*p == ' ' || *p == ':')
            continue;
        if (!ours[j] || toupper((unsigned char)*p) != ours[j])
            return 0;
        j++;
    }
    return ours[0] && !ours[j];
}

enum wsm_err wsmd__cfgl_reply_created(struct wsmd_call *call, const char *uri,
                                      const char *const *names, const char *const *values, size_t n)
{
    struct wsm_buf *o = call->out;
    enum wsm_err e = wsm__reply_begin(o, XF "CreateResponse", call->env->message_id,
                                      " xmlns:x=\"" WSM_NS_WSXF "\"");
    if (!e)
        e = wsm__buf_puts(o, "<x:ResourceCreated><a:Address>");
    if (!e)
        e = wsm__buf_xml(o, call->env->to ? call->env->to : WSM_ADDR_ANONYMOUS);
    if (!e)
        e = wsm__buf_printf(o,
                            "</a:Address><a:ReferenceParameters><w:ResourceURI>%s</w:ResourceURI>"
                            "<w:SelectorSet>",
                            uri);
    for (size_t i = 0; i < n && !e; i++) {
        e = wsm__buf_printf(o, "<w:Selector Name=\"%s\">", names[i]);
        if (!e)
            e = wsm__buf_xml(o, values[i]);
        if (!e)
            e = wsm__buf_puts(o, "</w:Selector>");
    }
    if (!e)
        e = wsm__buf_puts(o, "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>");
    return e ? e : wsm__reply_end(o);
}

enum wsm_err wsmd__cfgl_reply_deleted(struct wsmd_call *call)
{
    enum wsm_err e = wsm__reply_begin(call->out, XF "DeleteResponse", call->env->message_id, NULL);
    return e ? e : wsm__reply_end(call->out);
}

enum wsm_err wsmd__cfgl_body_props(struct wsmd_call *call, struct wsmd_cfgl_prop *p, size_t n)
{
    xmlNodePtr root = call->env->payload;
    if (!root)
        return WSM_ERR_INVALID_REPRESENTATION;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        size_t i = 0;
        while (i < n && strcmp((const char *)c->name, p[i].name))
            i++;
        if (i == n || p[i].value) {
            call->fault_message = "The WS-Management service cannot process the request: the "
                                  "resource has no such property, or it is given twice.";
            return WSM_ERR_INVALID_REPRESENTATION;
        }
        p[i].value = wsm__xml_text(&call->env->arena, c, 1);
        if (!p[i].value)
            return WSM_ERR_NOMEM;
    }
    return WSM_OK;
}

static enum wsm_err selectors_listener(struct wsmd_call *call, struct wsmd_listener *key, long port,
                                       char *url, size_t n)
{
    const struct wsm_envelope *env = call->env;
    const char *addr = wsm__envelope_selector(env, "Address");
    const char *tr = wsm__envelope_selector(env, "Transport");
    if (env->nselectors != 2)
        return WSM_ERR_INVALID_SELECTORS;
    enum wsm_err e = wsmd__cfgl_listener_url(addr, tr, port, url, n);
    if (!e && !wsmd__cfgl_parse_listen(url, key))
        e = WSM_ERR_INVALID_SELECTORS;
    return e;
}

struct wsmd_listener *wsmd__cfgl_free_slot(struct wsmd_server *srv, int *append)
{
    struct wsmd_config *cfg = &srv->cfg;
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        struct wsmd_listener *l = &cfg->listeners[i];
        if (l->deleted && wsmd__http_listener_connections(l) == 0) {
            if (l->mhd)
                MHD_stop_daemon(l->mhd);
            l->mhd = NULL;
            *append = 0;
            return l;
        }
    }
    *append = 1;
    return cfg->nlisteners < WSMD_MAX_LISTENERS ? &cfg->listeners[cfg->nlisteners] : NULL;
}

static enum wsm_err listener_create(struct wsmd_call *call)
{
    struct wsmd_server *srv = call->srv;
    struct wsmd_cfgl_prop p[] = {{"Port", NULL},
                                 {"Hostname", NULL},
                                 {"Enabled", NULL},
                                 {"URLPrefix", NULL},
                                 {"CertificateThumbprint", NULL}};
    enum wsm_err e = wsmd__cfgl_body_props(call, p, sizeof(p) / sizeof(p[0]));
    if (e)
        return e;
    const char *tr = wsm__envelope_selector(call->env, "Transport");
    int https = tr && !strcasecmp(tr, "HTTPS");
    long port = https ? WSMD_DEFAULT_HTTPS_PORT : WSMD_DEFAULT_HTTP_PORT;
    if (p[0].value && *p[0].value) {
        char *end;
        port = strtol(p[0].value, &end, 10);
        if (*end || end == p[0].value || port < 1 || port > 65535) {
            call->fault_message = "The WS-Management service cannot process the request: "
                                  "Port must be a number from 1 to 65535.";
            return WSM_ERR_INVALID_ARG;
        }
    }
    if (p[2].value && strcasecmp(p[2].value, "true")) {
        call->fault_message = "The WS-Management service cannot process the request: a "
                              "listener is created Enabled=true (delete it to disable it).";
        return WSM_ERR_INVALID_ARG;
    }
    if (p[3].value && *p[3].value && strcmp(p[3].value, "wsman")) {
        call->fault_message = "The WS-Management service cannot process the request: the only "
                              "URLPrefix served is wsman.";
        return WSM_ERR_INVALID_ARG;
    }
    char url[256];
    struct wsmd_listener nl;
    if ((e = selectors_listener(call, &nl, port, url, sizeof(url))) != WSM_OK) {
        if (e == WSM_ERR_INVALID_ARG)
            call->fault_message = "The WS-Management service cannot process the request: "
                                  "Port must be a number from 1 to 65535.";
        return e;
    }
    if (!wsmd__cfgl_port_allowed(port)) {
        call->fault_message = "The WS-Management service cannot process the request: a "
                              "listener created over WS-Management uses port 80, 443 or a port "
                              "from 1024 to 65535.";
        return WSM_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        const struct wsmd_listener *l = &srv->cfg.listeners[i];
        if (!l->metrics && !l->deleted && same_key(l, &nl))
            return WSM_ERR_ALREADY_EXISTS;
    }
    if (https) {
        /* The certificate is wsmd's CertificateFile: the thumbprint asked
         * for must be its (docs/internals/winrm-config.md). */
        char tp[41];
        wsmd__thumbprint_pem(srv->cfg.tls_cert_pem, tp);
        if (!srv->cfg.tls_cert_pem || !srv->cfg.tls_key_pem || !p[4].value ||
            !thumbprint_eq(p[4].value, tp)) {
            call->fault_message = "The WS-Management service cannot find the certificate that "
                                  "was requested: CertificateThumbprint must be the SHA-1 "
                                  "thumbprint of wsmd's CertificateFile (with its KeyFile).";
            return WSM_ERR_INVALID_ARG;
        }
    } else if (p[4].value && *p[4].value) {
        call->fault_message = "The WS-Management service cannot process the request: an HTTP "
                              "listener has no CertificateThumbprint.";
        return WSM_ERR_INVALID_ARG;
    }
    int append = 0;
    struct wsmd_listener *slot = wsmd__cfgl_free_slot(srv, &append);
    if (!slot) {
        call->fault_message = "The WS-Management service cannot create another listener: at "
                              "most 8.";
        return WSM_ERR_QUOTA;
    }
    int fd = -1, bound_port = (int)port;
    unsigned removed = 0;
    if (wsmd__privsep_on()) {
        e = ps_listen(call->user, CFGL_OP_ADD, url, &bound_port, &fd);
    } else {
        struct wsmd_listener tmp;
        e = listen_bind(url, &tmp);
        if (!e) {
            fd = tmp.lfd;
            bound_port = tmp.port;
            if ((e = wsmd__cfgl_file_edit("Listen", url, NULL, NULL, &removed)) != WSM_OK)
                close(fd);
        }
    }
    if (e == WSM_ERR_ALREADY_EXISTS)
        call->fault_message = "The WS-Management service cannot create the listener: the "
                              "address and port are in use.";
    if (e)
        return e;
    nl.lfd = fd;
    nl.has_lfd = 1;
    nl.port = bound_port;
    nl.deleted = 1; /* not listed until it serves */
    *slot = nl;
    e = wsmd__http_listener_start(srv, slot);
    if (e) {
        if (slot->mhd)
            MHD_stop_daemon(slot->mhd);
        slot->mhd = NULL;
        close(fd);
        if (wsmd__privsep_on())
            ps_listen(call->user, CFGL_OP_REMOVE, url, NULL, NULL);
        else
            wsmd__cfgl_file_edit("Listen", NULL, url, wsmd__cfgl_same_listen, &removed);
        return e;
    }
    __atomic_store_n(&slot->deleted, 0, __ATOMIC_RELEASE);
    if (append)
        __atomic_store_n(&srv->cfg.nlisteners, srv->cfg.nlisteners + 1, __ATOMIC_RELEASE);
    wsmd__log("event=listener-created url=%s port=%d user=%s", url, slot->port, call->user);
    const char *names[] = {"Address", "Transport"};
    const char *values[] = {wsm__envelope_selector(call->env, "Address"), https ? "HTTPS" : "HTTP"};
    return wsmd__cfgl_reply_created(call, URI_LISTENER, names, values, 2);
}

enum wsm_err wsmd__cfgl_listener_create(struct wsmd_call *call)
{
    wsmd__cfgl_lock();
    enum wsm_err e = listener_create(call);
    wsmd__cfgl_unlock();
    return e;
}

static enum wsm_err listener_delete(struct wsmd_call *call)
{
    struct wsmd_server *srv = call->srv;
    char url[256];
    struct wsmd_listener key;
    enum wsm_err e = selectors_listener(call, &key, 1, url, sizeof(url));
    if (e)
        return e == WSM_ERR_INVALID_ARG ? WSM_ERR_INVALID_SELECTORS : e;
    unsigned n = 0, removed = 0;
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        struct wsmd_listener *l = &srv->cfg.listeners[i];
        if (l->metrics || l->deleted || !same_key(l, &key))
            continue;
        char lurl[256];
        snprintf(lurl, sizeof(lurl), "%s://%s%s%s:%d/wsman", l->https ? "https" : "http",
                 strchr(l->host, ':') ? "[" : "", l->host, strchr(l->host, ':') ? "]" : "",
                 l->port);
        if (wsmd__privsep_on())
            e = ps_listen(call->user, CFGL_OP_REMOVE, lurl, NULL, NULL);
        else
            e = wsmd__cfgl_file_edit("Listen", NULL, lurl, wsmd__cfgl_same_listen, &removed);
        if (e)
            return e;
        /* New connections are refused from now on; those open finish. */
        int lfd = wsmd__http_listener_quiesce(l);
        if (lfd >= 0)
            close(lfd);
        __atomic_store_n(&l->deleted, 1, __ATOMIC_RELEASE);
        wsmd__log("event=listener-deleted url=%s user=%s", lurl, call->user);
        n++;
    }
    return n ? wsmd__cfgl_reply_deleted(call) : WSM_ERR_NOT_FOUND;
}

enum wsm_err wsmd__cfgl_listener_delete(struct wsmd_call *call)
{
    wsmd__cfgl_lock();
    enum wsm_err e = listener_delete(call);
    wsmd__cfgl_unlock();
    return e;
}
