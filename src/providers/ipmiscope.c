/* Which BMCs a request reaches (docs/internals/ipmi.md, "Which BMCs a
 * request reaches, and faults"): the BMC a Get or a SystemName selector
 * names, else every configured one, all asked at once; for the sensor
 * classes (ipmi.c) and the SEL's (ipmisel.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim.h"
#include "ipmi.h"
#include "server.h" /* wsmd__log */

struct bmc_slot {
    char name[IPMI_NAME_MAX + 1];
    struct ipmi_ticket t;
};

struct ipmi_scope {
    int scoped; /* one BMC named: its failure is the request's fault */
    struct bmc_slot *b;
    size_t nb, ib;
    struct ipmi_reply first; /* scoped: its reply, waited for in open */
    int has_first;
};

void wsmd__ipmi_scope_free(struct ipmi_scope *sc)
{
    if (!sc)
        return;
    for (size_t i = 0; i < sc->nb; i++)
        wsmd__ipmi_cancel(&sc->b[i].t);
    wsmd__ipmi_reply_free(&sc->first);
    free(sc->b);
    free(sc);
}

static enum wsm_err add_slot(struct ipmi_scope *sc, const char *name)
{
    struct bmc_slot *nb = realloc(sc->b, (sc->nb + 1) * sizeof(*nb));
    if (!nb)
        return WSM_ERR_NOMEM;
    sc->b = nb;
    memset(&sc->b[sc->nb], 0, sizeof(sc->b[sc->nb]));
    snprintf(sc->b[sc->nb].name, sizeof(sc->b[sc->nb].name), "%s", name);
    sc->nb++;
    return WSM_OK;
}

/* The BMC names (LIST). */
static enum wsm_err list_bmcs(struct ipmi_scope *sc)
{
    struct ipmi_ticket t;
    struct ipmi_reply r;
    enum wsm_err e = wsmd__ipmi_send(IPMI_OP_LIST, NULL, &t);
    if (!e)
        e = wsmd__ipmi_wait(&t, &r);
    if (e)
        return e;
    if ((e = wsmd__ipmi_status_err(&r))) {
        wsmd__ipmi_reply_free(&r);
        return e;
    }
    struct ipmi_rd rd;
    struct ipmi_field f;
    ipmi_rd_init(&rd, r.f.body, r.f.blen);
    while (!e && ipmi_rd_next(&rd, &f) == 1) {
        struct ipmi_bmc b;
        if (f.tag != IPMI_T_RECORD)
            continue;
        if (ipmi_bmc_decode(f.v, f.len, &b) != 0 || sc->nb == IPMI_MAX_BMCS)
            e = WSM_ERR_INTERNAL;
        else
            e = add_slot(sc, b.name);
    }
    wsmd__ipmi_reply_free(&r);
    return e;
}

static const char *scope_system(const struct cim_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nscope; i++)
        if (!strcasecmp(ctx->scope[i].name, "SystemName"))
            return ctx->scope[i].value;
    return NULL;
}

enum wsm_err wsmd__ipmi_scope_open(const struct cim_ctx *ctx, uint16_t op, const char *only,
                                   struct ipmi_scope **out)
{
    struct ipmi_scope *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return WSM_ERR_NOMEM;
    enum wsm_err e;
    if (!only && ctx)
        only = scope_system(ctx);
    if (only) {
        sc->scoped = 1;
        e = add_slot(sc, only);
    } else if ((e = list_bmcs(sc)) == WSM_ERR_NOT_FOUND) {
        /* No IpmiHosts: no BMC (not a fault: a class of the build that
         * this host does not use). */
        cim_fault_message_take(NULL);
        *out = sc;
        return WSM_OK;
    }
    /* Every BMC is asked at once: each has its own thread in the helper,
     * so N BMCs take about as long as the slowest. */
    for (size_t i = 0; !e && i < sc->nb; i++)
        e = wsmd__ipmi_send(op, sc->b[i].name, &sc->b[i].t);
    /* Scoped, the BMC's failure is the Enumerate's (or the Get's) own
     * fault, not a Pull's later. */
    if (!e && sc->scoped) {
        e = wsmd__ipmi_wait(&sc->b[0].t, &sc->first);
        if (!e && (e = wsmd__ipmi_status_err(&sc->first)))
            wsmd__ipmi_reply_free(&sc->first);
        sc->has_first = !e;
    }
    if (e) {
        wsmd__ipmi_scope_free(sc);
        return e;
    }
    *out = sc;
    return WSM_OK;
}

enum wsm_err wsmd__ipmi_scope_next(struct ipmi_scope *sc, struct wsm_arena *a, const char **bmc,
                                   struct ipmi_reply *r)
{
    if (sc && sc->has_first) {
        sc->has_first = 0;
        sc->ib = 1;
        *r = sc->first;
        memset(&sc->first, 0, sizeof(sc->first));
        *bmc = sc->b[0].name;
        return WSM_OK;
    }
    while (sc && sc->ib < sc->nb) {
        struct bmc_slot *b = &sc->b[sc->ib++];
        enum wsm_err e = wsmd__ipmi_wait(&b->t, r);
        if (!e && (e = wsmd__ipmi_status_err(r)))
            wsmd__ipmi_reply_free(r);
        if (!e) {
            *bmc = b->name;
            return WSM_OK;
        }
        if (sc->scoped)
            return e;
        /* Unscoped: the others still come (a rack with one BMC down is
         * still a rack); the log says which is missing, and a request
         * scoped to it gets the fault. */
        const char *m = cim_fault_message_take(a);
        wsmd__log("event=ipmi-bmc-skipped bmc=%s reason=\"%s\"", b->name, m ? m : "error");
    }
    return WSM_ERR_NOT_FOUND;
}

/* ---- the walk every IPMI class enumerates with ------------------------- */

enum wsm_err wsmd__ipmi_walk_open(const struct cim_ctx *ctx, uint16_t op, int kind, int wmi,
                                  const char *only, struct ipmi_walk **out)
{
    struct ipmi_walk *w = calloc(1, sizeof(*w));
    if (!w)
        return WSM_ERR_NOMEM;
    w->kind = kind;
    w->wmi = wmi;
    enum wsm_err e = wsmd__ipmi_scope_open(ctx, op, only, &w->sc);
    if (e) {
        free(w);
        return e;
    }
    *out = w;
    return WSM_OK;
}

enum wsm_err wsmd__ipmi_walk_reply(struct ipmi_walk *w, struct wsm_arena *a)
{
    wsmd__ipmi_reply_free(&w->r);
    w->have = 0;
    return wsmd__ipmi_scope_next(w->sc, a, &w->bmc, &w->r);
}

enum wsm_err wsmd__ipmi_walk_record(struct ipmi_walk *w, struct wsm_arena *a, struct ipmi_field *f)
{
    for (;;) {
        if (!w->have) {
            enum wsm_err e = wsmd__ipmi_walk_reply(w, a);
            if (e)
                return e;
            ipmi_rd_init(&w->rd, w->r.f.body, w->r.f.blen);
            w->have = 1;
        }
        int k = ipmi_rd_next(&w->rd, f);
        if (k < 0)
            return WSM_ERR_INTERNAL;
        if (k == 0)
            w->have = 0;
        else if (f->tag == IPMI_T_RECORD)
            return WSM_OK;
    }
}

void wsmd__ipmi_walk_free(struct ipmi_walk *w)
{
    if (!w)
        return;
    wsmd__ipmi_scope_free(w->sc);
    wsmd__ipmi_reply_free(&w->r);
    free(w);
}

enum wsm_err wsmd__ipmi_walk_find(struct ipmi_walk *w, struct cim_instance *inst,
                                  enum wsm_err (*next)(void *, struct cim_instance *),
                                  int (*match)(const struct cim_instance *, const void *),
                                  const void *arg)
{
    for (;;) {
        memset(inst->v, 0, inst->cls->nprops * sizeof(*inst->v));
        enum wsm_err e = next(w, inst);
        if (e)
            return e;
        if (match(inst, arg))
            return WSM_OK;
    }
}
