/* Subscriptions shared by several collector nodes (StateDatabase =
 * postgresql://..., docs/internals/collector-store.md "Several nodes"):
 * the definitions are rows of the database instead of files, wecutil
 * cs/ss/ds change them through the control socket of any node, and every
 * node polls the database's generation to load what another node changed.
 * The Version is derived from the definition (subload.c), so the same row
 * gives every node the same Version. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector_priv.h"
#include "server.h"
#include "throttle.h" /* wsmd__log_escape */

/* How often a node looks for another node's change: the bound on how long
 * a `wecutil cs` on one node takes to reach the others. */
#define POLL_MS 1000

struct wsmd_col_sync {
    struct wsmd_collector *col;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

struct from_db {
    struct wsmd_sub **v;
    size_t n;
    enum wsm_err e;
};

static void add_row(const char *id, const char *xml, void *arg)
{
    struct from_db *f = arg;
    if (f->e)
        return;
    struct wsmd_sub *s = NULL;
    char err[256], lid[256];
    wsmd__log_escape(lid, sizeof(lid), id);
    enum wsm_err e = wsmd__sub_parse(xml, strlen(xml), &s, err, sizeof(err));
    if (e == WSM_ERR_NOMEM) {
        f->e = e;
        return;
    }
    if (e) {
        /* Stored by another wsmd (a newer one, or edited by hand): skipped
         * like a bad file, the others load. */
        for (char *p = err; *p; p++)
            if (*p == '"' || (unsigned char)*p < 0x20)
                *p = '\'';
        wsmd__log("event=subscription_skipped id=%s source=database error=\"%s\"", lid, err);
        return;
    }
    struct wsmd_sub **g = realloc(f->v, (f->n + 1) * sizeof(*g));
    if (!g) {
        wsmd__sub_free(s);
        f->e = WSM_ERR_NOMEM;
        return;
    }
    f->v = g;
    f->v[f->n++] = s;
    wsmd__log("event=subscription_loaded source=database id=%s version=%s served=%s", lid,
              s->version, wsmd__sub_served(s) ? "yes" : "no");
}

enum wsm_err wsmd__col_subs_from_db(struct wsmd_collector *col, struct wsmd_sub ***v, size_t *n,
                                    long long *generation)
{
    struct from_db f = {0};
    enum wsm_err e = wsmd__state_subs(col->state, generation, add_row, &f);
    if (!e)
        e = f.e;
    if (e) {
        wsmd__sub_free_all(f.v, f.n);
        return e;
    }
    wsmd__col_subs_secrets(col, f.v, f.n); /* the rows hold no password (subsecret.c) */
    *v = f.v;
    *n = f.n;
    return WSM_OK;
}

enum wsm_err wsmd__col_subs_seed(struct wsmd_collector *col, const char *dir)
{
    struct wsmd_sub **v = NULL;
    size_t n = 0;
    int done = 0;
    /* Seeded already: the folder is not read (its lines would say files
     * were loaded that are not served). The seed itself checks again. */
    enum wsm_err e = wsmd__state_subs_seeded(col->state, &done);
    if (e || done)
        return e;
    if ((e = wsmd__sub_load_dir(dir, &v, &n)) != WSM_OK)
        return e;
    const char **ids = calloc(n + 1, sizeof(*ids));
    const char **xmls = calloc(n + 1, sizeof(*xmls));
    struct wsm_buf *bufs = calloc(n + 1, sizeof(*bufs));
    for (size_t i = 0; ids && xmls && bufs && i < n && !e; i++) {
        wsm__buf_init(&bufs[i], 0);
        e = wsmd__sub_write_xml(&bufs[i], v[i]);
        if (!e)
            e = wsm__buf_add(&bufs[i], "", 1); /* the terminating NUL */
        ids[i] = v[i]->id;
        xmls[i] = bufs[i].data;
    }
    int seeded = 0;
    if (!ids || !xmls || !bufs)
        e = WSM_ERR_NOMEM;
    if (!e)
        e = wsmd__state_subs_seed(col->state, ids, xmls, n, &seeded);
    if (!e && seeded)
        wsmd__log("event=subscriptions_seeded count=%zu dir=\"%s\"", n,
                  col->srv->cfg.subscriptions_dir);
    for (size_t i = 0; bufs && i < n; i++)
        wsm__buf_free(&bufs[i]);
    free(bufs);
    free(ids);
    free(xmls);
    wsmd__sub_free_all(v, n);
    return e;
}

static void *poll_thread(void *arg)
{
    struct wsmd_col_sync *sy = arg;
    struct wsmd_collector *col = sy->col;
    pthread_mutex_lock(&sy->mu);
    while (!sy->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&sy->cv, &sy->mu, &until);
        if (sy->stop)
            break;
        pthread_mutex_unlock(&sy->mu);
        long long gen = 0;
        /* A database that is away: the subscriptions loaded stay served. */
        if (wsmd__state_subs_generation(col->state, &gen) == WSM_OK &&
            gen != atomic_load(&col->subs_gen)) {
            char msg[256];
            wsmd__col_load(col, msg, sizeof(msg));
        }
        pthread_mutex_lock(&sy->mu);
    }
    pthread_mutex_unlock(&sy->mu);
    return NULL;
}

enum wsm_err wsmd__col_sync_start(struct wsmd_collector *col, struct wsmd_col_sync **out)
{
    *out = NULL;
    if (!wsmd__state_shared(col->state))
        return WSM_OK;
    struct wsmd_col_sync *sy = calloc(1, sizeof(*sy));
    if (!sy)
        return WSM_ERR_NOMEM;
    sy->col = col;
    pthread_mutex_init(&sy->mu, NULL);
    pthread_cond_init(&sy->cv, NULL);
    if (pthread_create(&sy->thread, NULL, poll_thread, sy) != 0) {
        pthread_mutex_destroy(&sy->mu);
        pthread_cond_destroy(&sy->cv);
        free(sy);
        return WSM_ERR_INTERNAL;
    }
    *out = sy;
    return WSM_OK;
}

void wsmd__col_sync_stop(struct wsmd_col_sync *sy)
{
    if (!sy)
        return;
    pthread_mutex_lock(&sy->mu);
    sy->stop = 1;
    pthread_cond_signal(&sy->cv);
    pthread_mutex_unlock(&sy->mu);
    pthread_join(sy->thread, NULL);
    pthread_mutex_destroy(&sy->mu);
    pthread_cond_destroy(&sy->cv);
    free(sy);
}

/* The definition of s with Enabled set, in the file format. */
static enum wsm_err with_enabled(const struct wsmd_sub *s, int enabled, struct wsm_buf *out)
{
    struct wsm_buf cur;
    wsm__buf_init(&cur, 0);
    struct wsmd_sub *copy = NULL;
    char err[256];
    enum wsm_err e = wsmd__sub_write_xml(&cur, s);
    if (!e)
        e = wsmd__sub_parse(cur.data, cur.len, &copy, err, sizeof(err));
    if (!e) {
        copy->enabled = enabled;
        e = wsmd__sub_write_xml(out, copy);
    }
    if (!e)
        e = wsm__buf_add(out, "", 1);
    wsmd__sub_free(copy);
    wsm__buf_free(&cur);
    return e;
}

static void changed(struct wsmd_collector *col, const char *verb, const char *id,
                    struct wsm_buf *out)
{
    char msg[256], lid[256];
    wsmd__col_load(col, msg, sizeof(msg)); /* this node at once; the others at their poll */
    wsmd__log_escape(lid, sizeof(lid), id);
    wsmd__log("event=collector-control verb=%s id=%s result=ok source=database", verb, lid);
    wsm__buf_printf(out, "OK\n%s\n", id);
}

int wsmd__col_db_verb(struct wsmd_collector *col, const char *verb, const char *arg,
                      const char *body, size_t blen, struct wsm_buf *out)
{
    int shared = wsmd__state_shared(col->state);
    if (!strcmp(verb, "backend")) {
        wsm__buf_printf(out, "OK\n%s\n", shared ? "postgresql" : "files");
        return 1;
    }
    if (strcmp(verb, "create") && strcmp(verb, "setenabled") && strcmp(verb, "delete"))
        return 0;
    if (!shared) {
        wsm__buf_puts(out, "ERR the subscriptions are files here: wecutil writes them\n");
        return 1;
    }
    enum wsm_err e;
    if (!strcmp(verb, "create")) {
        struct wsmd_sub *s = NULL;
        char err[256] = "";
        struct wsm_buf x;
        wsm__buf_init(&x, 0);
        if (wsmd__sub_parse(body, blen, &s, err, sizeof(err)) != WSM_OK) {
            wsm__buf_printf(out, "ERR %s\n", err[0] ? err : "not a subscription");
        } else if ((e = wsmd__sub_write_xml(&x, s)) || (e = wsm__buf_add(&x, "", 1)) ||
                   (e = wsmd__state_sub_put(col->state, s->id, x.data, 1))) {
            if (e == WSM_ERR_ALREADY_EXISTS)
                wsm__buf_printf(out, "ERR The subscription %s already exists.\n", s->id);
            else
                wsm__buf_printf(out, "ERR cannot store the subscription: %s\n", wsm_strerror(e));
        } else {
            changed(col, verb, s->id, out);
        }
        wsm__buf_free(&x);
        wsmd__sub_free(s);
        return 1;
    }
    if (!arg) {
        wsm__buf_puts(out, "ERR bad request\n");
        return 1;
    }
    if (!strcmp(verb, "delete")) {
        e = wsmd__state_sub_delete(col->state, arg);
        if (e == WSM_ERR_NOT_FOUND)
            wsm__buf_printf(out, "ERR The subscription %s does not exist.\n", arg);
        else if (e)
            wsm__buf_printf(out, "ERR cannot delete the subscription: %s\n", wsm_strerror(e));
        else
            changed(col, verb, arg, out);
        return 1;
    }
    /* setenabled NAME true|false */
    char name[512];
    const char *sp = strrchr(arg, ' ');
    int on = sp && !strcmp(sp + 1, "true");
    if (!sp || (!on && strcmp(sp + 1, "false")) || (size_t)(sp - arg) >= sizeof(name)) {
        wsm__buf_puts(out, "ERR bad request\n");
        return 1;
    }
    memcpy(name, arg, (size_t)(sp - arg));
    name[sp - arg] = '\0';
    struct col_subs *subs = wsmd__col_subs_get(col);
    const struct wsmd_sub *s = wsmd__col_sub_find(subs, name, strlen(name));
    struct wsm_buf x;
    wsm__buf_init(&x, 0);
    if (!s) {
        wsm__buf_printf(out, "ERR The subscription %s does not exist.\n", name);
    } else if ((e = with_enabled(s, on, &x)) ||
               (e = wsmd__state_sub_put(col->state, s->id, x.data, 0))) {
        wsm__buf_printf(out, "ERR cannot store the subscription: %s\n", wsm_strerror(e));
    } else {
        char id[512];
        snprintf(id, sizeof(id), "%s", s->id);
        wsmd__col_subs_put(subs);
        subs = NULL;
        changed(col, verb, id, out);
    }
    wsm__buf_free(&x);
    wsmd__col_subs_put(subs);
    return 1;
}
