/* The running collector's local door for wecutil (src/cli/wecutil.c): a
 * unix socket, StateDir/control.sock, one request per connection.
 *
 *   request:  "VERB [ARG]\n" then, for some verbs, a body up to EOF
 *   reply:    "OK\n" and text, or "ERR message\n"
 *
 * Who may ask: root, the daemon's own account, members of wsmd-admins
 * (SO_PEERCRED). The verbs read the loaded subscriptions and the state
 * database; files in the Subscriptions folder are written by wecutil
 * itself, as the admin who runs it, and then reloaded here. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "collector_priv.h"
#include "control.h"
#include "dialer.h"
#include "server.h"

#define MAX_REQUEST (1024 * 1024)
#define ADMIN_GROUP "wsmd-admins"
#define IO_TIMEOUT_MS 5000

struct wsmd_control {
    struct wsmd_collector *col;
    int fd;
    int stop_pipe[2];
    pthread_t thread;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int may_ask(uid_t uid)
{
    if (uid == 0 || uid == geteuid())
        return 1;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
        return 0;
    struct group gr, *gres = NULL;
    char gbuf[16384];
    if (getgrnam_r(ADMIN_GROUP, &gr, gbuf, sizeof(gbuf), &gres) != 0 || !gres)
        return 0;
    gid_t groups[256];
    int n = 256;
    if (getgrouplist(res->pw_name, res->pw_gid, groups, &n) < 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (groups[i] == gres->gr_gid)
            return 1;
    return 0;
}

static void iso(long long ms, char *out, size_t n)
{
    if (ms <= 0) {
        snprintf(out, n, "never");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03dZ", (int)(ms % 1000));
}

const char *wsmd__col_source_status(const struct wsmd_source_row *r, long heartbeat_ms,
                                    long long now_ms)
{
    long long hb = heartbeat_ms > 0 ? heartbeat_ms : 900000;
    long long contact =
        r->last_event_ms > r->last_heartbeat_ms ? r->last_event_ms : r->last_heartbeat_ms;
    if (r->ended)
        return "Ended";
    if (r->last_event_ms && now_ms - r->last_event_ms <= hb)
        return "Active";
    if (contact && now_ms - contact <= 2 * hb)
        return "Alive";
    return "Dead";
}

struct gr_ctx {
    struct wsm_buf *out;
    long hb;
    long long now;
    size_t n;
    const char *only; /* CollectorInitiated: the row of this address only */
};

static void gr_row(const struct wsmd_source_row *r, void *arg)
{
    struct gr_ctx *g = arg;
    char hb[40], ev[40], first[40];
    if (g->only) {
        if (strcasecmp(r->principal, g->only))
            return;
        iso(r->last_heartbeat_ms, hb, sizeof(hb));
        iso(r->last_event_ms, ev, sizeof(ev));
        iso(r->first_seen_ms, first, sizeof(first));
        wsm__buf_printf(g->out,
                        "\t\tLastHeartbeatTime: %s\n\t\tLastEventTime: %s\n\t\tFirstSeen: %s\n"
                        "\t\tEvents: %llu\n\t\tBookmark: %s\n",
                        hb, ev, first, r->events,
                        r->bookmark_xml && r->bookmark_xml[0] ? r->bookmark_xml : "-");
        g->n++;
        return;
    }
    iso(r->last_heartbeat_ms, hb, sizeof(hb));
    iso(r->last_event_ms, ev, sizeof(ev));
    iso(r->first_seen_ms, first, sizeof(first));
    wsm__buf_printf(g->out,
                    "\t%s\n\t\tRunTimeStatus: %s\n\t\tLastError: %s\n\t\tLastHeartbeatTime: %s\n"
                    "\t\tLastEventTime: %s\n\t\tFirstSeen: %s\n\t\tAddress: %s\n\t\tEvents: %llu\n"
                    "\t\tBookmark: %s\n",
                    r->principal, wsmd__col_source_status(r, g->hb, g->now),
                    r->last_error && r->last_error[0] ? r->last_error : "0", hb, ev, first,
                    r->addr ? r->addr : "-", r->events,
                    r->bookmark_xml && r->bookmark_xml[0] ? r->bookmark_xml : "-");
    g->n++;
}

static void gs_text(struct wsm_buf *o, const struct wsmd_sub *s)
{
    wsm__buf_printf(
        o,
        "Subscription Id: %s\nSubscriptionType: %s\nDescription: %s\n"
        "Enabled: %s\nUri: %s\nConfigurationMode: %s\nDeliveryMode: %s\n"
        "DeliveryMaxItems: %u\nDeliveryMaxLatencyTime: %ld\nHeartbeatInterval: %ld\n"
        "Query: %s\nReadExistingEvents: %s\nTransportName: %s\nContentFormat: %s\n"
        "Locale: %s\nLogFile: %s\nVersion: %s\nFile: %s\n",
        s->id, s->source_initiated ? "SourceInitiated" : "CollectorInitiated",
        s->description ? s->description : "", s->enabled ? "true" : "false", s->uri ? s->uri : "",
        s->config_mode ? s->config_mode : "Normal", s->delivery_mode ? s->delivery_mode : "Push",
        s->max_items, s->max_latency_ms, s->heartbeat_ms, s->query ? s->query : "",
        s->read_existing ? "true" : "false", s->transport ? s->transport : "HTTP",
        s->content_format ? s->content_format : "Events", s->locale ? s->locale : "",
        s->log_file ? s->log_file : "ForwardedEvents", s->version, s->file ? s->file : "");
    for (size_t i = 0; i < s->nallow; i++)
        wsm__buf_printf(o, "AllowedPrincipal: %s\n", s->allow[i]);
    for (size_t i = 0; i < s->ndeny; i++)
        wsm__buf_printf(o, "DeniedPrincipal: %s\n", s->deny[i]);
    if (!s->source_initiated)
        wsm__buf_printf(o, "CredentialsType: %s\nCommonUserName: %s\n",
                        s->credentials_type ? s->credentials_type : "Default",
                        s->common_user ? s->common_user : "");
    /* Windows' terse form; a password is never shown. */
    for (size_t i = 0; i < s->nsources; i++)
        wsm__buf_printf(o, "EventSource[%zu]:\n\tAddress: %s\n\tEnabled: %s\n\tUserName: %s\n", i,
                        s->sources[i].address, s->sources[i].enabled ? "true" : "false",
                        s->sources[i].user ? s->sources[i].user : "");
}

/* gr of a CollectorInitiated subscription: each configured source, its
 * dialer's runtime status (Windows' Active / Trying / Inactive / Disabled),
 * then what the state database holds of it. */
static void gr_dialed(struct wsmd_collector *col, const struct wsmd_sub *s, struct gr_ctx *g)
{
    for (size_t i = 0; i < s->nsources; i++) {
        const struct wsmd_sub_source *src = &s->sources[i];
        struct wsmd_dial_status st = {.status = "Disabled", .last_error = "0"};
        if (s->enabled && src->enabled &&
            !wsmd__dialers_status(col->dialers, s->id, src->address, &st))
            snprintf(st.status, sizeof(st.status), "Inactive");
        char next[40];
        iso(st.next_try_ms, next, sizeof(next));
        wsm__buf_printf(g->out, "\t%s\n\t\tRunTimeStatus: %s\n\t\tLastError: %s\n", src->address,
                        st.status, st.last_error);
        if (st.url[0])
            wsm__buf_printf(g->out, "\t\tUrl: %s\n\t\tFailures: %u\n\t\tNextRetryTime: %s\n",
                            st.url, st.failures, st.next_try_ms ? next : "-");
        g->only = src->address;
        if (wsmd__state_sources(col->state, s->id, gr_row, g) != WSM_OK)
            wsm__buf_puts(g->out, "\t\t(the state database could not be read)\n");
    }
}

/* Runs one request; the reply's text goes to out. */
static void answer(struct wsmd_collector *col, const char *verb, const char *arg, const char *body,
                   size_t blen, struct wsm_buf *out)
{
    if (!strcmp(verb, "reload") || !strcmp(verb, "rs")) {
        char msg[256];
        enum wsm_err e = wsmd__collector_reload(col, msg, sizeof(msg));
        wsm__buf_printf(out, "%s %s\n", e ? "ERR" : "OK", msg);
        wsmd__log("event=collector-control verb=%s result=%s", verb, e ? "error" : "ok");
        return;
    }
    if (wsmd__col_db_verb(col, verb, arg, body, blen, out))
        return; /* the shared subscriptions (subsync.c) */
    if (!strcmp(verb, "check")) {
        struct wsmd_sub *s = NULL;
        char err[256] = "";
        if (wsmd__sub_parse(body, blen, &s, err, sizeof(err)) != WSM_OK)
            wsm__buf_printf(out, "ERR %s\n", err[0] ? err : "not a subscription");
        else
            wsm__buf_printf(out, "OK\n%s\n", s->id);
        wsmd__sub_free(s);
        return;
    }
    struct col_subs *subs = wsmd__col_subs_get(col);
    const struct wsmd_sub *s = arg ? wsmd__col_sub_find(subs, arg, strlen(arg)) : NULL;
    if (!strcmp(verb, "es")) {
        wsm__buf_puts(out, "OK\n");
        for (size_t i = 0; i < subs->n; i++)
            wsm__buf_printf(out, "%s\n", subs->v[i]->id);
    } else if (strcmp(verb, "gs") && strcmp(verb, "gsxml") && strcmp(verb, "gr") &&
               strcmp(verb, "path")) {
        wsm__buf_printf(out, "ERR unknown verb %s\n", verb);
    } else if (!s) {
        wsm__buf_printf(out, "ERR The subscription %s does not exist.\n", arg ? arg : "");
    } else if (!strcmp(verb, "gs")) {
        wsm__buf_puts(out, "OK\n");
        gs_text(out, s);
    } else if (!strcmp(verb, "gsxml")) {
        wsm__buf_puts(out, "OK\n");
        wsmd__sub_write_xml(out, s);
        wsm__buf_puts(out, "\n");
    } else if (!strcmp(verb, "path")) {
        wsm__buf_printf(out, "OK\n%s\n", s->file ? s->file : "");
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct gr_ctx g = {out, s->heartbeat_ms, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                           0, NULL};
        wsm__buf_printf(out,
                        "OK\nSubscription: %s\nRunTimeStatus: %s\nLastError: 0\n"
                        "EventSources:\n",
                        s->id, s->enabled ? "Active" : "Disabled");
        if (!s->source_initiated)
            gr_dialed(col, s, &g);
        else if (wsmd__state_sources(col->state, s->id, gr_row, &g) != WSM_OK)
            wsm__buf_puts(out, "\t(the state database could not be read)\n");
    }
    wsmd__col_subs_put(subs);
}

static int read_all(int fd, struct wsm_buf *in)
{
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, IO_TIMEOUT_MS) <= 0)
            return -1;
        char buf[8192];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (in->len + (size_t)n > MAX_REQUEST || wsm__buf_add(in, buf, (size_t)n) != WSM_OK)
            return -1;
    }
}

static void serve(struct wsmd_control *ctl, int fd)
{
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    struct wsm_buf in, out;
    wsm__buf_init(&in, 0);
    wsm__buf_init(&out, 0);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || !may_ask(cr.uid)) {
        wsmd__log("event=collector-control-refused uid=%d",
                  getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) ? -1 : (int)cr.uid);
        wsm__buf_puts(&out, "ERR Access is denied: root or a member of " ADMIN_GROUP "\n");
    } else if (read_all(fd, &in) != 0 || !in.data) {
        wsm__buf_puts(&out, "ERR bad request\n");
    } else {
        char *nl = memchr(in.data, '\n', in.len);
        size_t hl = nl ? (size_t)(nl - in.data) : in.len;
        char line[512];
        if (hl >= sizeof(line)) {
            wsm__buf_puts(&out, "ERR bad request\n");
        } else {
            memcpy(line, in.data, hl);
            line[hl] = '\0';
            char *arg = strchr(line, ' ');
            if (arg)
                *arg++ = '\0';
            const char *body = nl ? nl + 1 : "";
            answer(ctl->col, line, arg && *arg ? arg : NULL, body, nl ? in.len - hl - 1 : 0, &out);
        }
    }
    for (size_t off = 0; out.data && off < out.len;) {
        ssize_t n = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    wsm__buf_free(&in);
    wsm__buf_free(&out);
}

static void *run(void *arg)
{
    struct wsmd_control *ctl = arg;
    for (;;) {
        struct pollfd p[2] = {{ctl->fd, POLLIN, 0}, {ctl->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve(ctl, fd);
        close(fd);
    }
    return NULL;
}

enum wsm_err wsmd__control_start(struct wsmd_collector *col, const char *dir,
                                 struct wsmd_control **out)
{
    *out = NULL;
    struct wsmd_control *ctl = calloc(1, sizeof(*ctl));
    if (!ctl)
        return WSM_ERR_NOMEM;
    ctl->col = col;
    ctl->fd = -1;
    ctl->stop_pipe[0] = ctl->stop_pipe[1] = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(ctl->path, sizeof(ctl->path), "%s/control.sock", dir);
    if (n < 0 || (size_t)n >= sizeof(ctl->path)) {
        free(ctl);
        return WSM_ERR_INVALID_ARG;
    }
    memcpy(sa.sun_path, ctl->path, strlen(ctl->path) + 1);
    unlink(ctl->path);
    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* Anyone may connect; SO_PEERCRED decides who is answered. */
    mode_t old = umask(0);
    int ok = ctl->fd >= 0 && bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
             listen(ctl->fd, 16) == 0 && pipe2(ctl->stop_pipe, O_CLOEXEC) == 0;
    umask(old);
    if (ok) {
        chmod(ctl->path, 0666);
        ok = pthread_create(&ctl->thread, NULL, run, ctl) == 0;
    }
    if (!ok) {
        fprintf(stderr, "wsmd: cannot open the control socket %s: %s\n", ctl->path,
                strerror(errno));
        if (ctl->fd >= 0)
            close(ctl->fd);
        if (ctl->stop_pipe[0] >= 0) {
            close(ctl->stop_pipe[0]);
            close(ctl->stop_pipe[1]);
        }
        free(ctl);
        return WSM_ERR_IO;
    }
    *out = ctl;
    return WSM_OK;
}

void wsmd__control_stop(struct wsmd_control *ctl)
{
    if (!ctl)
        return;
    if (write(ctl->stop_pipe[1], "x", 1) < 0) {
        /* the thread is gone already */
    }
    pthread_join(ctl->thread, NULL);
    close(ctl->fd);
    close(ctl->stop_pipe[0]);
    close(ctl->stop_pipe[1]);
    unlink(ctl->path);
    free(ctl);
}
