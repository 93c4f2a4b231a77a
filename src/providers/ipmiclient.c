/* wsmd's connection to wsmd-ipmi (docs/internals/ipmi.md, "The client").
 *
 * One stream socket, many requests in flight: each caller sends its frame
 * (non-blocking, under the lock) with a fresh id and waits on a condition
 * for the reply of that id; one reader thread reads replies and hands
 * each to its waiter. A BMC that is slow holds up only the callers
 * waiting for it. A caller that waits longer than the timeout gets a
 * fault and leaves (the late reply is dropped). When the helper dies (the
 * reader sees EOF), every waiter gets a fault and the next request starts
 * a new helper. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cim.h"
#include "ipmi.h"
#include "server.h" /* wsmd__log */

#define DEFAULT_TIMEOUT_MS 30000

struct waiter {
    uint32_t id;
    int done;
    enum wsm_err err;
    unsigned char *buf;
    size_t n;
    struct waiter *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;     /* -1: none */
    int dead;   /* the reader saw EOF or an error: replace on next use */
    int reader; /* a reader thread runs for fd */
    uint32_t next_id;
    struct waiter *waiting;
    enum wsm_err (*connect)(int *fd);
    long timeout_ms;
} cl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, 0, 0, 1, NULL, NULL,
        DEFAULT_TIMEOUT_MS};

void wsmd__ipmi_set_connector(enum wsm_err (*connect)(int *fd))
{
    cl.connect = connect;
    /* Separated: this is the network process, forked from the monitor
     * after it read IpmiHosts. It must not keep the passwords. */
    wsmd__ipmi_forget();
}

void wsmd__ipmi_reply_free(struct ipmi_reply *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* Called with the lock held: every waiter fails. */
static void fail_all(enum wsm_err e)
{
    for (struct waiter *w = cl.waiting; w; w = w->next)
        if (!w->done) {
            w->done = 1;
            w->err = e;
        }
    pthread_cond_broadcast(&cl.cv);
}

static void *reader_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc;
    while ((rc = ipmi_frame_read(fd, &buf, &cap, &n, IPMI_FRAME_MAX)) == 1) {
        struct ipmi_frame f;
        if (ipmi_frame_parse(buf, n, IPMI_FRAME_MAX, &f) != 0 || !(f.op & IPMI_OP_REPLY)) {
            rc = -1;
            break;
        }
        pthread_mutex_lock(&cl.mu);
        struct waiter *w = cl.waiting;
        while (w && w->id != f.id)
            w = w->next;
        if (w && !w->done) {
            /* The buffer goes to the waiter; a new one is grown next time. */
            w->buf = buf;
            w->n = n;
            w->done = 1;
            buf = NULL;
            cap = 0;
            pthread_cond_broadcast(&cl.cv);
        }
        pthread_mutex_unlock(&cl.mu);
    }
    free(buf);
    wsmd__log("event=ipmi-helper-lost reason=\"%s\"", rc == 0
                                                          ? "it closed the connection (it ended)"
                                                          : "a malformed frame or a read error");
    pthread_mutex_lock(&cl.mu);
    if (cl.fd == fd) {
        cl.dead = 1;
        cl.reader = 0;
        fail_all(WSM_ERR_INTERNAL);
    }
    pthread_mutex_unlock(&cl.mu);
    return NULL;
}

/* Called with the lock held: a connection with its reader, new if need be. */
static enum wsm_err ensure_conn(void)
{
    static int env_read;
    if (!env_read) {
        /* Tests only: a hung helper is found in seconds, not 30. */
        const char *t = getenv("WSMD_IPMI_TIMEOUT_MS");
        if (t && atol(t) > 0)
            cl.timeout_ms = atol(t);
        env_read = 1;
    }
    if (cl.fd >= 0 && !cl.dead)
        return WSM_OK;
    if (cl.fd >= 0) {
        /* The reader has left (dead is set only as it leaves). */
        close(cl.fd);
        cl.fd = -1;
    }
    int fd = -1;
    enum wsm_err e = cl.connect ? cl.connect(&fd) : wsmd__ipmi_spawn(&fd, 0, 0, 0);
    if (e) {
        cim_fault_message(
            e == WSM_ERR_NOT_FOUND
                ? "No BMC is configured: set IpmiHosts in wsmd.conf (see wsmd.conf(5))."
                : "The IPMI helper wsmd-ipmi could not be started (see the log).");
        return e == WSM_ERR_NOT_FOUND ? WSM_ERR_NOT_FOUND : WSM_ERR_INTERNAL;
    }
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, reader_main, (void *)(intptr_t)fd) != 0) {
        pthread_attr_destroy(&at);
        close(fd);
        return WSM_ERR_NOMEM;
    }
    pthread_attr_destroy(&at);
    cl.fd = fd;
    cl.dead = 0;
    cl.reader = 1;
    return WSM_OK;
}

enum wsm_err wsmd__ipmi_send(uint16_t op, const char *bmc, struct ipmi_ticket *t)
{
    return wsmd__ipmi_send_with(op, bmc, NULL, NULL, t);
}

enum wsm_err wsmd__ipmi_send_with(uint16_t op, const char *bmc,
                                  void (*fields)(struct ipmi_wbuf *, const void *), const void *arg,
                                  struct ipmi_ticket *t)
{
    memset(t, 0, sizeof(*t));
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return WSM_ERR_NOMEM;
    struct ipmi_wbuf b;
    ipmiw_init(&b, IPMI_REQUEST_MAX);
    pthread_mutex_lock(&cl.mu);
    enum wsm_err e = ensure_conn();
    if (!e) {
        w->id = cl.next_id++;
        if (!cl.next_id)
            cl.next_id = 1;
        ipmiw_begin(&b, w->id, op, 0);
        if (bmc)
            ipmiw_str(&b, IPMI_T_BMC, bmc);
        if (fields)
            fields(&b, arg);
        if (ipmiw_finish(&b) != 0)
            e = WSM_ERR_INVALID_ARG;
    }
    /* Non-blocking: a helper that stopped reading must not hold the
     * lock (and every other caller) on a full socket. */
    if (!e && send(cl.fd, b.p, b.len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)b.len) {
        wsmd__log("event=ipmi-helper-lost reason=\"it does not take requests: %s\"",
                  strerror(errno));
        shutdown(cl.fd, SHUT_RDWR); /* the reader sees EOF and marks it dead */
        cim_fault_message("The IPMI helper wsmd-ipmi does not take requests; it is restarted "
                          "at the next one.");
        e = WSM_ERR_INTERNAL;
    }
    if (!e) {
        w->next = cl.waiting;
        cl.waiting = w;
        t->id = w->id;
        t->sent = 1;
    }
    pthread_mutex_unlock(&cl.mu);
    ipmiw_free(&b);
    if (e)
        free(w);
    return e;
}

/* Called with the lock held. */
static struct waiter *unlink_waiter(uint32_t id)
{
    for (struct waiter **p = &cl.waiting; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            struct waiter *w = *p;
            *p = w->next;
            return w;
        }
    return NULL;
}

enum wsm_err wsmd__ipmi_wait(struct ipmi_ticket *t, struct ipmi_reply *r)
{
    memset(r, 0, sizeof(*r));
    if (!t->sent)
        return WSM_ERR_INVALID_ARG;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += cl.timeout_ms / 1000;
    dl.tv_nsec += (cl.timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&cl.mu);
    struct waiter *w = cl.waiting;
    while (w && w->id != t->id)
        w = w->next;
    int to = 0;
    while (w && !w->done && !to)
        to = pthread_cond_timedwait(&cl.cv, &cl.mu, &dl) == ETIMEDOUT;
    if (w)
        unlink_waiter(t->id);
    pthread_mutex_unlock(&cl.mu);
    t->sent = 0;
    if (!w)
        return WSM_ERR_INTERNAL;
    enum wsm_err e = WSM_OK;
    if (!w->done) {
        /* Every BMC call in the helper ends within its session timeout
         * (seconds): one that has not answered for this long is hung. The
         * connection is dropped, so the next request starts a new one
         * (and wsmd__ipmi_spawn ends this one). */
        pthread_mutex_lock(&cl.mu);
        if (cl.fd >= 0 && !cl.dead)
            shutdown(cl.fd, SHUT_RDWR);
        pthread_mutex_unlock(&cl.mu);
        wsmd__log("event=ipmi-helper-hung timeout_ms=%ld", cl.timeout_ms);
        cim_fault_message("The IPMI helper wsmd-ipmi did not answer within %ld ms; it is "
                          "restarted at the next request.",
                          cl.timeout_ms);
        e = WSM_ERR_TIMED_OUT;
    } else if (w->err || !w->buf) {
        cim_fault_message("The IPMI helper wsmd-ipmi ended while answering; it is restarted at "
                          "the next request.");
        e = w->err ? w->err : WSM_ERR_INTERNAL;
    } else if (ipmi_frame_parse(w->buf, w->n, IPMI_FRAME_MAX, &r->f) != 0) {
        e = WSM_ERR_INTERNAL;
    } else {
        r->buf = w->buf;
        r->n = w->n;
        w->buf = NULL;
    }
    free(w->buf);
    free(w);
    return e;
}

void wsmd__ipmi_cancel(struct ipmi_ticket *t)
{
    if (!t->sent)
        return;
    pthread_mutex_lock(&cl.mu);
    struct waiter *w = unlink_waiter(t->id);
    pthread_mutex_unlock(&cl.mu);
    if (w) {
        free(w->buf);
        free(w);
    }
    t->sent = 0;
}

enum wsm_err wsmd__ipmi_status_err(const struct ipmi_reply *r)
{
    struct ipmi_rd rd;
    struct ipmi_field f;
    char msg[IPMI_MESSAGE_MAX + 1] = "", bmc[IPMI_NAME_MAX + 1] = "";
    ipmi_rd_init(&rd, r->f.body, r->f.blen);
    while (ipmi_rd_next(&rd, &f) == 1) {
        if (f.tag == IPMI_T_MESSAGE && ipmi_field_str(&f, msg, sizeof(msg)) != 0)
            msg[0] = '\0';
        if (f.tag == IPMI_T_BMC && ipmi_field_str(&f, bmc, sizeof(bmc)) != 0)
            bmc[0] = '\0';
    }
    /* Printable text only: it goes into a fault and a log line. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"')
            *p = '\'';
    switch (r->f.status) {
    case IPMI_ST_OK:
        return WSM_OK;
    case IPMI_ST_UNKNOWN_BMC:
        cim_fault_message("%s", msg[0] ? msg : "No such BMC.");
        return WSM_ERR_NOT_FOUND;
    case IPMI_ST_UNREACHABLE:
        cim_fault_message("The BMC %s does not answer: %s", bmc, msg);
        return WSM_ERR_TIMED_OUT;
    case IPMI_ST_AUTH:
        cim_fault_message("The BMC %s refused wsmd's session (check IpmiHosts): %s", bmc, msg);
        return WSM_ERR_INTERNAL;
    case IPMI_ST_BUSY:
        cim_fault_message("The BMC %s is busy: %s", bmc, msg);
        return WSM_ERR_QUOTA;
    case IPMI_ST_UNSUPPORTED:
        cim_fault_message("%s", msg);
        return WSM_ERR_UNSUPPORTED_FEATURE;
    default:
        cim_fault_message("The BMC %s failed: %s", bmc, msg);
        return WSM_ERR_INTERNAL;
    }
}

void wsmd__ipmi_shutdown(void)
{
    pthread_mutex_lock(&cl.mu);
    if (cl.fd >= 0)
        shutdown(cl.fd, SHUT_RDWR);
    pthread_mutex_unlock(&cl.mu);
}

enum wsm_err wsmd__ipmi_call(uint16_t op, const char *bmc,
                             void (*fields)(struct ipmi_wbuf *, const void *), const void *arg,
                             struct ipmi_reply *r)
{
    struct ipmi_ticket t;
    memset(r, 0, sizeof(*r));
    enum wsm_err e = wsmd__ipmi_send_with(op, bmc, fields, arg, &t);
    if (!e)
        e = wsmd__ipmi_wait(&t, r);
    if (!e && (e = wsmd__ipmi_status_err(r)))
        wsmd__ipmi_reply_free(r);
    return e;
}
