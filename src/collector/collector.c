/* The collector's life: its folders, its start, the subscriptions it
 * serves and their reloads (docs/internals/collector.md). */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certauth.h"
#include "collector_priv.h"
#include "control.h"
#include "dialer.h"
#include "writer.h"
#include "server.h"
#include "thumbprint.h"

const double wsmd__col_lat_le[COL_LAT_BUCKETS] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

enum wsmd_col_path wsmd__collector_path(const struct wsmd_server *srv, const char *url)
{
    if (!srv->collector || !url)
        return WSMD_COL_NONE;
    /* Windows writes the GPO's path as the admin typed it: the manager's
     * prefix is matched without regard to case, like IIS/http.sys do. */
    size_t mp = strlen(WSMD_COL_MANAGER_PREFIX), dp = strlen(WSMD_COL_DELIVERY_PREFIX);
    if (!strncasecmp(url, WSMD_COL_MANAGER_PREFIX, mp) && url[mp])
        return WSMD_COL_MANAGER;
    if (!strncasecmp(url, WSMD_COL_DELIVERY_PREFIX, dp) && url[dp])
        return WSMD_COL_DELIVERY;
    return WSMD_COL_NONE;
}

/* ---- folders ----------------------------------------------------------- */

static enum wsm_err prepare_dir(const char *key, const char *dir, uid_t uid, gid_t gid)
{
    if (!dir)
        return WSM_OK;
    struct stat st;
    if (stat(dir, &st) != 0) {
        /* mkdir -p: the parents as 0755 (~/.local/state for a user's wsmd). */
        char path[4096];
        snprintf(path, sizeof(path), "%s", dir);
        for (char *sl = strchr(path + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
            *sl = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                break;
            *sl = '/';
        }
        if ((mkdir(dir, 0750) != 0 && errno != EEXIST) || stat(dir, &st) != 0) {
            fprintf(stderr, "wsmd: %s %s: cannot create it: %s\n", key, dir, strerror(errno));
            return WSM_ERR_INVALID_ARG;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "wsmd: %s %s is not a folder\n", key, dir);
        return WSM_ERR_INVALID_ARG;
    }
    if (uid == (uid_t)-1 || (st.st_uid == uid && (st.st_mode & S_IWUSR)))
        return WSM_OK;
    /* The network process writes here as the unprivileged account: the
     * folder becomes its own, as a package's postinst would make it. */
    if (chown(dir, uid, gid) != 0 || chmod(dir, (st.st_mode & 07777) | S_IRWXU) != 0) {
        fprintf(stderr, "wsmd: %s %s: cannot give it to uid %u: %s\n", key, dir, (unsigned)uid,
                strerror(errno));
        return WSM_ERR_INVALID_ARG;
    }
    wsmd__log("event=collector-dir key=%s path=\"%s\" owner=%u", key, dir, (unsigned)uid);
    return WSM_OK;
}

/* The folder, open for the process that will use it: its descriptor's
 * /proc/self/fd link opens what is in it whatever the parents' modes. */
static enum wsm_err hand_over(const char *key, const char *dir, char **out)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    char path[64];
    if (fd < 0) {
        fprintf(stderr, "wsmd: %s %s: %s\n", key, dir, strerror(errno));
        return WSM_ERR_IO;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    free(*out);
    if (!(*out = strdup(path))) {
        close(fd);
        return WSM_ERR_NOMEM;
    }
    return WSM_OK; /* fd stays open for the life of the daemon */
}

enum wsm_err wsmd__collector_prepare_dirs(struct wsmd_config *cfg, uid_t uid, gid_t gid)
{
    if (!cfg->subscriptions_dir)
        return WSM_OK;
    enum wsm_err e = prepare_dir("StateDir", cfg->state_dir, uid, gid);
    if (!e)
        e = prepare_dir("EventLogDir", cfg->event_log_dir, uid, gid);
    if (!e && uid != (uid_t)-1)
        e = hand_over("StateDir", cfg->state_dir, &cfg->state_dir_open);
    if (!e && uid != (uid_t)-1)
        e = hand_over("EventLogDir", cfg->event_log_dir, &cfg->event_log_dir_open);
    if (!e && uid != (uid_t)-1)
        e = hand_over("Subscriptions", cfg->subscriptions_dir, &cfg->subscriptions_dir_open);
    return e;
}

/* ---- subscriptions ------------------------------------------------------ */

struct col_subs *wsmd__col_subs_get(struct wsmd_collector *col)
{
    pthread_mutex_lock(&col->lock);
    struct col_subs *s = col->cur;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&col->lock);
    return s;
}

void wsmd__col_subs_put(struct col_subs *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        wsmd__sub_free_all(s->v, s->n);
        free(s);
    }
}

const struct wsmd_sub *wsmd__col_sub_find(const struct col_subs *s, const char *id, size_t idlen)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i]->id) == idlen && !strncasecmp(s->v[i]->id, id, idlen))
            return s->v[i];
    return NULL;
}

static enum wsm_err load(struct wsmd_collector *col, char *msg, size_t msglen)
{
    struct col_subs *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    atomic_init(&s->refs, 1);
    const struct wsmd_config *cfg = &col->srv->cfg;
    const char *dir =
        cfg->subscriptions_dir_open ? cfg->subscriptions_dir_open : cfg->subscriptions_dir;
    long long gen = 0;
    int shared = wsmd__state_shared(col->state);
    /* Shared: the database's rows are the subscriptions (subsync.c). */
    enum wsm_err e = shared ? wsmd__col_subs_from_db(col, &s->v, &s->n, &gen)
                            : wsmd__sub_load_dir(dir, &s->v, &s->n);
    if (e && shared) {
        snprintf(msg, msglen, "cannot read the subscriptions from the database: %s",
                 wsm_strerror(e));
        free(s);
        return e;
    }
    if (e) {
        snprintf(msg, msglen, "cannot read %s: %s", col->srv->cfg.subscriptions_dir,
                 wsm_strerror(e));
        free(s);
        return e;
    }
    size_t enabled = 0, dl = strlen(dir);
    for (size_t i = 0; i < s->n; i++) {
        enabled += s->v[i]->enabled != 0;
        /* wecutil edits the file by the folder's real name. */
        const char *f = s->v[i]->file;
        char *real = NULL;
        if (f && cfg->subscriptions_dir_open && !strncmp(f, dir, dl) &&
            asprintf(&real, "%s%s", cfg->subscriptions_dir, f + dl) > 0) {
            free(s->v[i]->file);
            s->v[i]->file = real;
        }
    }
    pthread_mutex_lock(&col->lock);
    struct col_subs *old = col->cur;
    col->cur = s;
    atomic_store(&col->subs_gen, gen);
    pthread_mutex_unlock(&col->lock);
    wsmd__col_subs_put(old);
    /* CollectorInitiated: dial new sources, hang up on removed or disabled ones. */
    wsmd__dialers_sync(col->dialers, s);
    snprintf(msg, msglen, "%zu subscription(s), %zu enabled", s->n, enabled);
    if (shared)
        wsmd__log("event=collector-load subscriptions=%zu enabled=%zu source=database "
                  "generation=%lld",
                  s->n, enabled, gen);
    else
        wsmd__log("event=collector-load subscriptions=%zu enabled=%zu dir=\"%s\"", s->n, enabled,
                  col->srv->cfg.subscriptions_dir);
    return WSM_OK;
}

enum wsm_err wsmd__col_load(struct wsmd_collector *col, char *msg, size_t msglen)
{
    /* SIGHUP, wecutil and the shared subscriptions' poller: one at a time. */
    pthread_mutex_lock(&col->reload_lock);
    enum wsm_err e = load(col, msg, msglen);
    pthread_mutex_unlock(&col->reload_lock);
    return e;
}

enum wsm_err wsmd__collector_reload(struct wsmd_collector *col, char *msg, size_t msglen)
{
    char tmp[256];
    if (!msg) {
        msg = tmp;
        msglen = sizeof(tmp);
    }
    wsmd__outputs_reopen(col->outputs);
    return wsmd__col_load(col, msg, msglen);
}

/* "SHA1HEX SHA1HEX ...": the thumbprints a source's GPO names as IssuerCA
 * (certificates of ClientCAFile), for the Subscribe's policy. */
static char *thumbprints(const char *pem)
{
    if (!pem)
        return NULL;
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    if (gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) < 0)
        return NULL;
    char *out = calloc(1, (size_t)n * 41 + 1);
    for (unsigned i = 0; i < n; i++) {
        char tp[WSMD_THUMBPRINT_LEN];
        wsmd__thumbprint_crt(crts[i], tp);
        if (out && tp[0]) {
            size_t o = strlen(out);
            if (o)
                out[o++] = ' ';
            memcpy(out + o, tp, sizeof(tp));
        }
        gnutls_x509_crt_deinit(crts[i]);
    }
    gnutls_free(crts);
    if (out && !out[0]) {
        free(out);
        out = NULL;
    }
    return out;
}

enum wsm_err wsmd__collector_new(struct wsmd_server *srv, struct wsmd_collector **out)
{
    *out = NULL;
    if (!srv->cfg.subscriptions_dir)
        return WSM_OK;
    struct wsmd_collector *col = calloc(1, sizeof(*col));
    if (!col)
        return WSM_ERR_NOMEM;
    col->srv = srv;
    pthread_mutex_init(&col->lock, NULL);
    pthread_mutex_init(&col->reload_lock, NULL);
    char msg[256];
    const char *state_dir = srv->cfg.state_dir_open ? srv->cfg.state_dir_open : srv->cfg.state_dir;
    enum wsm_err e = wsmd__state_open_db(state_dir, srv->cfg.state_database, &col->state);
    if (e) {
        fprintf(stderr, "wsmd: cannot open the collector's state in %s: %s\n",
                srv->cfg.state_database ? "StateDatabase" : srv->cfg.state_dir, wsm_strerror(e));
        goto fail;
    }
    if (wsmd__state_shared(col->state) &&
        (e = wsmd__col_subs_seed(col, srv->cfg.subscriptions_dir_open
                                          ? srv->cfg.subscriptions_dir_open
                                          : srv->cfg.subscriptions_dir)) != WSM_OK) {
        fprintf(stderr, "wsmd: cannot import the subscriptions into the database: %s\n",
                wsm_strerror(e));
        goto fail;
    }
    struct wsmd_output_cfg oc = {
        .event_log_dir =
            srv->cfg.event_log_dir_open ? srv->cfg.event_log_dir_open : srv->cfg.event_log_dir,
        .syslog_target = srv->cfg.syslog_target,
        .syslog_app = "wsmd",
        .nats_output = srv->cfg.nats_output,
    };
    e = wsmd__outputs_open(&oc, &col->outputs);
    if (e) {
        fprintf(stderr, "wsmd: cannot open the collector's outputs (EventLogDir %s): %s\n",
                srv->cfg.event_log_dir, wsm_strerror(e));
        goto fail;
    }
    col->issuer_thumbprints =
        thumbprints(srv->certauth ? wsmd__certauth_ca_pem(srv->certauth) : NULL);
    if ((e = wsmd__col_load(col, msg, sizeof(msg))) != WSM_OK) {
        fprintf(stderr, "wsmd: %s\n", msg);
        goto fail;
    }
    if ((e = wsmd__col_writers_start(col, &col->writers)) != WSM_OK)
        goto fail;
    if ((e = wsmd__control_start(col, state_dir, &col->control)) != WSM_OK)
        goto fail;
    if ((e = wsmd__dialers_new(col, &col->dialers)) != WSM_OK)
        goto fail;
    pthread_mutex_lock(&col->reload_lock);
    wsmd__dialers_sync(col->dialers, col->cur);
    pthread_mutex_unlock(&col->reload_lock);
    /* Last: its loads sync the dialers too. */
    if ((e = wsmd__col_sync_start(col, &col->sync)) != WSM_OK)
        goto fail;
    *out = col;
    return WSM_OK;
fail:
    wsmd__collector_free(col);
    return e;
}

void wsmd__collector_free(struct wsmd_collector *col)
{
    if (!col)
        return;
    wsmd__control_stop(col->control);
    wsmd__col_sync_stop(col->sync);
    wsmd__dialers_free(col->dialers); /* each Unsubscribes; before the outputs close */
    wsmd__col_writers_stop(col->writers);
    wsmd__col_subs_put(col->cur);
    wsmd__outputs_close(col->outputs);
    wsmd__state_close(col->state);
    free(col->issuer_thumbprints);
    pthread_mutex_destroy(&col->lock);
    pthread_mutex_destroy(&col->reload_lock);
    free(col);
}

void wsmd__col_observe(struct wsmd_collector *col, long long us)
{
    atomic_fetch_add(&col->m.lat_count, 1);
    atomic_fetch_add(&col->m.lat_sum_us, (unsigned long long)(us > 0 ? us : 0));
    for (int i = 0; i < COL_LAT_BUCKETS; i++)
        if ((double)us / 1e6 <= wsmd__col_lat_le[i]) {
            atomic_fetch_add(&col->m.lat_bucket[i], 1);
            break;
        }
}
