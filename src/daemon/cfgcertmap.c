/* winrm/config/service/certmapping: Get, Enumerate, Create, Delete, live
 * and persisted as CertMapping lines (certauth.h). The file, the monitor
 * and the replies are shared with the listeners (cfglisten_priv.h). */
#include <ctype.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certauth.h"
#include "cfglisten.h"
#include "cfglisten_priv.h"
#include "ns.h"
#include "privsep.h"
#include "pswire.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "cimops.h"
#endif

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"

int wsmd__cfgl_is_certmapping(const char *uri)
{
    return uri && !strcasecmp(uri, WSMD_URI_CERTMAPPING);
}

int wsmd__cfgl_same_certmap(const char *a, const char *b)
{
    struct wsmd_certmap ma, mb;
    char why[128];
    if (wsmd__certmap_parse(a, &ma, why, sizeof(why)) != WSM_OK ||
        wsmd__certmap_parse(b, &mb, why, sizeof(why)) != WSM_OK)
        return 0;
    return ma.issuer_len == mb.issuer_len && !memcmp(ma.issuer, mb.issuer, ma.issuer_len) &&
           !strcasecmp(ma.subject, mb.subject);
}

/* Adds or removes one CertMapping value in cfg (the caller holds the lock). */
static enum wsm_err certmap_apply(struct wsmd_config *cfg, uint32_t op, const char *line)
{
    size_t i = 0;
    for (; i < cfg->ncert_mappings; i++)
        if (wsmd__cfgl_same_certmap(cfg->cert_mappings[i], line))
            break;
    if (op == CFGL_OP_ADD) {
        if (i < cfg->ncert_mappings)
            return WSM_ERR_ALREADY_EXISTS;
        char **v = realloc(cfg->cert_mappings, (cfg->ncert_mappings + 1) * sizeof(*v));
        if (!v)
            return WSM_ERR_NOMEM;
        cfg->cert_mappings = v;
        if (!(v[cfg->ncert_mappings] = strdup(line)))
            return WSM_ERR_NOMEM;
        cfg->ncert_mappings++;
        return WSM_OK;
    }
    if (i == cfg->ncert_mappings)
        return WSM_ERR_NOT_FOUND;
    free(cfg->cert_mappings[i]);
    memmove(&cfg->cert_mappings[i], &cfg->cert_mappings[i + 1],
            (cfg->ncert_mappings - i - 1) * sizeof(char *));
    cfg->ncert_mappings--;
    return WSM_OK;
}

/* Over the wire never a mapping to uid 0, whatever the line says: the
 * monitor believes certificate logins for its mapped names. */
/* A value that stays one line of the file, read back as written: no
 * control character (a newline would add a line of the sender's choosing:
 * the monitor checks this for the network process), no '#' (config.c would
 * cut the line there). */
static int one_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '#')
            return 0;
    return 1;
}

static enum wsm_err certmap_check(const char *line, int is_root)
{
    struct wsmd_certmap cm;
    char why[200];
    if (!one_line(line) || wsmd__certmap_parse(line, &cm, why, sizeof(why)) != WSM_OK ||
        cm.allow_root || !strcmp(cm.user, "root"))
        return WSM_ERR_INVALID_ARG;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (is_root && getpwnam_r(cm.user, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_uid == 0)
        return WSM_ERR_INVALID_ARG;
    return WSM_OK;
}

/* The file's half of a CertMapping change. */
static enum wsm_err certmap_file(uint32_t op, const char *line)
{
    unsigned removed = 0;
    return op == CFGL_OP_ADD
               ? wsmd__cfgl_file_edit("CertMapping", line, NULL, NULL, &removed)
               : wsmd__cfgl_file_edit("CertMapping", NULL, line, wsmd__cfgl_same_certmap, &removed);
}

/* The monitor's: the file, then its own lines (PS_CERT_USER reads them). */
static enum wsm_err certmap_persist(struct wsmd_config *cfg, uint32_t op, const char *line)
{
    size_t i = 0;
    for (; i < cfg->ncert_mappings; i++)
        if (wsmd__cfgl_same_certmap(cfg->cert_mappings[i], line))
            break;
    if (op == CFGL_OP_ADD && i < cfg->ncert_mappings)
        return WSM_ERR_ALREADY_EXISTS;
    if (op == CFGL_OP_REMOVE && i == cfg->ncert_mappings)
        return WSM_ERR_NOT_FOUND;
    enum wsm_err e = certmap_file(op, line);
    return e ? e : certmap_apply(cfg, op, line);
}

enum wsm_err wsmd__cfgl_monitor_certmap(struct wsmd_server *srv, struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    uint32_t op = ps_get_u32(q);
    const char *line = ps_get_str(q, 1000);
    if (!ps_end(q) || (op != CFGL_OP_ADD && op != CFGL_OP_REMOVE))
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__cfgl_monitor_may(srv, user))
        return WSM_ERR_ACCESS_DENIED;
    if (op == CFGL_OP_ADD && certmap_check(line, 1) != WSM_OK)
        return WSM_ERR_INVALID_ARG;
    wsmd__cfgl_lock();
    enum wsm_err e = certmap_persist(&srv->cfg, op, line);
    wsmd__cfgl_unlock();
    return e;
}

static enum wsm_err ps_certmap(const char *user, uint32_t op, const char *line)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CFG_CERTMAP);
    ps_put_str(&q, user);
    ps_put_u32(&q, op);
    ps_put_str(&q, line);
    enum wsm_err e = wsmd__ps_call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

/* ---- certmapping ------------------------------------------------------------ */

/* The CertMapping line of Windows' keys: Issuer, Subject, URI (only "*":
 * a mapping covers every resource here). */
static enum wsm_err certmap_line(struct wsmd_call *call, const char *user, char *line, size_t n)
{
    const struct wsm_envelope *env = call->env;
    const char *issuer = wsm__envelope_selector(env, "Issuer");
    const char *subject = wsm__envelope_selector(env, "Subject");
    const char *uri = wsm__envelope_selector(env, "URI");
    if (!issuer || !subject || !uri || env->nselectors != 3 || !*issuer || !*subject)
        return WSM_ERR_INVALID_SELECTORS;
    if (strcmp(uri, "*")) {
        call->fault_message = "The WS-Management service cannot process the request: a "
                              "certificate mapping covers every resource here (URI=*).";
        return WSM_ERR_INVALID_SELECTORS;
    }
    if (!one_line(subject) || strchr(subject, '"') || !one_line(issuer))
        return WSM_ERR_INVALID_SELECTORS;
    for (const char *p = issuer; *p; p++)
        if (isspace((unsigned char)*p) || *p == '"')
            return WSM_ERR_INVALID_SELECTORS;
    int w = snprintf(line, n, "Issuer=%s Subject=\"%s\" UserName=%s", issuer, subject,
                     user ? user : "x");
    if (w < 0 || (size_t)w >= n)
        return WSM_ERR_INVALID_SELECTORS;
    struct wsmd_certmap cm;
    char why[200];
    if (wsmd__certmap_parse(line, &cm, why, sizeof(why)) != WSM_OK) {
        if (!user)
            return WSM_ERR_INVALID_SELECTORS;
        /* The parser's reason (a mapping to root is made in the file only). */
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "The WS-Management service cannot process the request: the certificate "
                 "mapping is invalid: %s.%s",
                 why,
                 strstr(why, "root") ? " A mapping to uid 0 is made in the configuration "
                                       "file only."
                                     : "");
        call->fault_message = wsm__arena_strdup(&call->env->arena, msg);
        return WSM_ERR_INVALID_ARG;
    }
    return WSM_OK;
}

/* The network process's mappings: cfg's lines and certauth's, replaced. */
static enum wsm_err certmap_live(struct wsmd_server *srv, uint32_t op, const char *line)
{
    enum wsm_err e = certmap_apply(&srv->cfg, op, line);
    if (e)
        return e;
    e = wsmd__certauth_replace_maps(srv->certauth, &srv->cfg);
    if (e) /* checked before: cannot fail but for memory; undo */
        certmap_apply(&srv->cfg, op == CFGL_OP_ADD ? CFGL_OP_REMOVE : CFGL_OP_ADD, line);
    return e;
}

static enum wsm_err certmap_create(struct wsmd_call *call)
{
    struct wsmd_server *srv = call->srv;
    struct wsmd_cfgl_prop p[] = {{"UserName", NULL}, {"Password", NULL}, {"Enabled", NULL}};
    enum wsm_err e = wsmd__cfgl_body_props(call, p, sizeof(p) / sizeof(p[0]));
    if (e)
        return e;
    if (!srv->certauth) {
        call->fault_message = "The WS-Management service cannot process the request: client "
                              "certificates are not configured (ClientCAFile).";
        return WSM_ERR_INVALID_ARG;
    }
    if (!p[0].value || !*p[0].value || (p[2].value && strcasecmp(p[2].value, "true"))) {
        call->fault_message = "The WS-Management service cannot process the request: a "
                              "certificate mapping needs UserName, and is created Enabled=true.";
        return WSM_ERR_INVALID_ARG;
    }
    for (const char *c = p[0].value; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '"' || *c == '=' || *c == '#')
            return WSM_ERR_INVALID_ARG;
    char line[1024];
    if ((e = certmap_line(call, p[0].value, line, sizeof(line))) != WSM_OK)
        return e;
    if (certmap_check(line, srv->is_root) != WSM_OK) {
        call->fault_message = "The WS-Management service cannot process the request: a "
                              "certificate mapping to an account of uid 0 is made in the "
                              "configuration file only.";
        return WSM_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < srv->cfg.ncert_mappings; i++)
        if (wsmd__cfgl_same_certmap(srv->cfg.cert_mappings[i], line))
            return WSM_ERR_ALREADY_EXISTS;
    /* Checked against ClientCAFile as at startup, before anything changes. */
    struct wsmd_config probe = srv->cfg;
    char **v = malloc((probe.ncert_mappings + 1) * sizeof(*v));
    if (!v)
        return WSM_ERR_NOMEM;
    if (probe.ncert_mappings) /* NULL with none */
        memcpy(v, srv->cfg.cert_mappings, probe.ncert_mappings * sizeof(*v));
    v[probe.ncert_mappings++] = line;
    probe.cert_mappings = v;
    e = wsmd__certauth_check_maps(srv->certauth, &probe);
    free(v);
    if (e) {
        call->fault_message = "The WS-Management service cannot process the request: Issuer "
                              "must be the thumbprint of a certificate of ClientCAFile.";
        return WSM_ERR_INVALID_ARG;
    }
    e = wsmd__privsep_on() ? ps_certmap(call->user, CFGL_OP_ADD, line)
                           : certmap_file(CFGL_OP_ADD, line);
    if (!e)
        e = certmap_live(srv, CFGL_OP_ADD, line);
    if (e)
        return e;
    wsmd__log("event=certmapping-created user=%s mapping=\"%s\"", call->user, line);
    const char *names[] = {"Issuer", "Subject", "URI"};
    const char *values[] = {wsm__envelope_selector(call->env, "Issuer"),
                            wsm__envelope_selector(call->env, "Subject"), "*"};
    return wsmd__cfgl_reply_created(call, WSMD_URI_CERTMAPPING, names, values, 3);
}

enum wsm_err wsmd__cfgl_certmap_create(struct wsmd_call *call)
{
    wsmd__cfgl_lock();
    enum wsm_err e = certmap_create(call);
    wsmd__cfgl_unlock();
    return e;
}

/* The stored line with these keys (Issuer, Subject), copied into line. */
static enum wsm_err certmap_find(struct wsmd_call *call, char *line, size_t n)
{
    char key[1024];
    enum wsm_err e = certmap_line(call, NULL, key, sizeof(key));
    if (e)
        return e;
    const struct wsmd_config *cfg = &call->srv->cfg;
    for (size_t i = 0; i < cfg->ncert_mappings; i++) {
        if (wsmd__cfgl_same_certmap(cfg->cert_mappings[i], key)) {
            snprintf(line, n, "%s", cfg->cert_mappings[i]);
            return WSM_OK;
        }
    }
    return WSM_ERR_NOT_FOUND;
}

enum wsm_err wsmd__cfgl_certmap_delete(struct wsmd_call *call)
{
    struct wsmd_server *srv = call->srv;
    char line[1024];
    wsmd__cfgl_lock();
    enum wsm_err e = certmap_find(call, line, sizeof(line));
    if (!e)
        e = wsmd__privsep_on() ? ps_certmap(call->user, CFGL_OP_REMOVE, line)
                               : certmap_file(CFGL_OP_REMOVE, line);
    if (!e)
        e = certmap_live(srv, CFGL_OP_REMOVE, line);
    if (!e)
        wsmd__log("event=certmapping-deleted user=%s mapping=\"%s\"", call->user, line);
    wsmd__cfgl_unlock();
    return e ? e : wsmd__cfgl_reply_deleted(call);
}

#ifdef WSMD_HAVE_CIM
/* Listed as Windows shows a mapping (MS-WSMV CertMappingType): Issuer,
 * Subject, URI, UserName, Enabled; never a password (none is kept). */
static const struct cim_prop certmap_props[] = {
    {"Issuer", CIM_STRING, CIM_KEY}, {"Subject", CIM_STRING, CIM_KEY}, {"URI", CIM_STRING, CIM_KEY},
    {"UserName", CIM_STRING, 0},     {"Enabled", CIM_BOOLEAN, 0},
};

/* A copy of the lines at Enumerate: Pulls do not race with changes. */
struct certmap_it {
    char **lines;
    size_t n, i;
};

static void hexs(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", b[i]);
    out[2 * n] = '\0';
}

static void fill_certmap(const struct wsmd_certmap *m, struct cim_instance *inst)
{
    char issuer[65];
    if (m->issuer_len)
        hexs(m->issuer, m->issuer_len, issuer);
    else
        strcpy(issuer, "*");
    cim_set_str(inst, "Issuer", issuer);
    cim_set_str(inst, "Subject", m->subject);
    cim_set_str(inst, "URI", "*");
    cim_set_str(inst, "UserName", m->user);
    cim_set_bool(inst, "Enabled", 1);
}

static enum wsm_err certmap_next(void *it, struct cim_instance *inst)
{
    struct certmap_it *ci = it;
    while (ci->i < ci->n) {
        struct wsmd_certmap m;
        char why[128];
        if (wsmd__certmap_parse(ci->lines[ci->i++], &m, why, sizeof(why)) == WSM_OK) {
            fill_certmap(&m, inst);
            return WSM_OK;
        }
    }
    return WSM_ERR_NOT_FOUND;
}

static void certmap_close(void *it)
{
    struct certmap_it *ci = it;
    for (size_t i = 0; i < ci->n; i++)
        free(ci->lines[i]);
    free(ci->lines);
    free(ci);
}

static const struct cim_class certmap_class = {
    .name = "certmapping",
    .props = certmap_props,
    .nprops = sizeof(certmap_props) / sizeof(certmap_props[0]),
    .next = certmap_next,
    .close = certmap_close,
};

static enum wsm_err write_certmap(struct wsm_buf *o, const struct cim_instance *inst)
{
    enum wsm_err e = wsm__buf_puts(o, "<cfg:CertMapping xmlns:cfg=\"" WSMD_URI_CERTMAPPING
                                      "\" xml:lang=\"en-US\">");
    for (size_t i = 0; i < inst->cls->nprops && !e; i++) {
        const char *name = inst->cls->props[i].name;
        e = wsm__buf_printf(o, "<cfg:%s>", name);
        if (!e)
            e = wsm__buf_xml(o, inst->v[i].s ? inst->v[i].s : "");
        if (!e)
            e = wsm__buf_printf(o, "</cfg:%s>", name);
    }
    return e ? e : wsm__buf_puts(o, "</cfg:CertMapping>");
}

enum wsm_err wsmd__cfgl_certmap_enumerate(struct wsmd_call *call)
{
    struct certmap_it *it = calloc(1, sizeof(*it));
    if (!it)
        return WSM_ERR_NOMEM;
    wsmd__cfgl_lock();
    const struct wsmd_config *cfg = &call->srv->cfg;
    it->lines = calloc(cfg->ncert_mappings + 1, sizeof(char *));
    for (size_t i = 0; it->lines && i < cfg->ncert_mappings; i++)
        if ((it->lines[it->n] = strdup(cfg->cert_mappings[i])) != NULL)
            it->n++;
    wsmd__cfgl_unlock();
    if (!it->lines) {
        free(it);
        return WSM_ERR_NOMEM;
    }
    struct wsmd_enum_source src = {
        .cls = &certmap_class,
        .it = it,
        .uri_prefix = WSM_NS_CFG "/service/",
        .write = write_certmap,
    };
    return wsmd__enum_source(call, &src);
}

enum wsm_err wsmd__cfgl_certmap_get(struct wsmd_call *call)
{
    char line[1024];
    wsmd__cfgl_lock();
    enum wsm_err e = certmap_find(call, line, sizeof(line));
    wsmd__cfgl_unlock();
    if (e)
        return e;
    struct wsmd_certmap m;
    char why[128];
    if (wsmd__certmap_parse(line, &m, why, sizeof(why)) != WSM_OK)
        return WSM_ERR_INTERNAL;
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct cim_val v[sizeof(certmap_props) / sizeof(certmap_props[0])];
    memset(v, 0, sizeof(v));
    struct cim_instance inst = {.cls = &certmap_class, .arena = &a, .v = v};
    fill_certmap(&m, &inst);
    e = wsm__reply_begin(call->out, XF "GetResponse", call->env->message_id, NULL);
    if (!e)
        e = write_certmap(call->out, &inst);
    if (!e)
        e = wsm__reply_end(call->out);
    wsm__arena_free(&a);
    return e;
}
#endif
