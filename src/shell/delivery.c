/* Receive and delivery tracking (engine.h: shell_receive_tx, shell_settle;
 * docs/internals/shell.md, "Delivery").
 *
 * A Receive copies bytes from the head of the rings without consuming
 * them and records how many ("in flight"). Only when the HTTP layer
 * reports the reply written (shell_settle, delivered) do they leave the
 * rings; a reply that was not written leaves them where they were, so the
 * next Receive sends them again: shell output survives a dropped
 * connection (at-least-once; a SequenceId repeated by the client asks for
 * the same output again, as MS-WSMV's Receive allows). The rings keep
 * their back-pressure meanwhile: bytes in flight still take room. */
#include <string.h>
#include <sys/epoll.h>

#include "engine_state.h"

static size_t room(const struct wsm_buf *b)
{
    return b->cap > b->len ? b->cap - b->len : 0;
}

/* Copies n bytes at offset 0 of the ring without consuming them. */
static void ring_peek(const struct ring *r, size_t cap, char *dst, size_t n)
{
    struct iovec iov[2];
    shell__ring_data_iov(r, cap, iov);
    size_t a = n < iov[0].iov_len ? n : iov[0].iov_len;
    memcpy(dst, iov[0].iov_base, a);
    if (n > a)
        memcpy(dst + a, iov[1].iov_base, n - a);
}

static void rollback(struct cmd *c)
{
    c->fl_token = 0;
    c->fl_kept = 0;
    c->fl_probe = NULL;
    c->fl_probe_arg = NULL;
    c->fl_seq = -1;
    c->fl_len[0] = c->fl_len[1] = 0;
    c->fl_end[0] = c->fl_end[1] = c->fl_done = 0;
}

/* The reply of the Receive in flight went out: its bytes and ends are
 * gone for good. */
static void commit(struct shell_mgr *m, struct cmd *c)
{
    int rearm = 0;
    for (int k = 0; k < 2; k++) {
        struct ostream *s = &c->out[k];
        if (c->fl_len[k]) {
            shell__ring_consume(m, c, &s->r, c->fl_len[k]);
            c->sent[k] += c->fl_len[k];
            if (s->paused && !s->starved && s->fd >= 0) {
                /* Room again: read on. */
                if (shell__ep_add(m, s->fd, EPOLLIN, c, k) == 0)
                    s->paused = 0;
                if (c->grace)
                    rearm = 1;
            }
        }
        if (c->fl_end[k])
            s->end_told = 1;
    }
    if (c->fl_done) {
        c->done_told = 1;
        shell__log_end(m, c);
    }
    rollback(c);
    if (rearm)
        shell__arm(m, shell_now_ms());
}

/* Fills out with the bytes in flight (fl_len) and their ends. */
static enum wsm_err copy_out(struct shell_mgr *m, struct cmd *c, struct shell_output *out)
{
    struct wsm_buf *dst[2] = {&out->out, &out->err};
    for (int k = 0; k < 2; k++) {
        size_t n = c->fl_len[k];
        if (!n)
            continue;
        if (wsm__buf_reserve(dst[k], n) != WSM_OK)
            return WSM_ERR_NOMEM;
        ring_peek(&c->out[k].r, m->lim.stream_cap, dst[k]->data + dst[k]->len, n);
        dst[k]->len += n;
        dst[k]->data[dst[k]->len] = '\0';
    }
    out->out_end = (int)c->fl_end[0];
    out->err_end = (int)c->fl_end[1];
    if (c->fl_done || c->done_told) {
        out->done = out->out_end = out->err_end = 1;
        out->exit_code = c->exit_code;
    }
    return WSM_OK;
}

/* The reply in flight reached the client. */
static void delivered(struct shell_mgr *m, struct cmd *c)
{
    if (c->fl_seq >= 0) {
        /* Kept for a replay until the client's next Receive. */
        c->fl_token = 0;
        c->fl_kept = 1;
        c->fl_probe = NULL;
        c->fl_probe_arg = NULL;
    } else {
        commit(m, c);
    }
}

static enum wsm_err receive_locked(struct shell_mgr *m, struct cmd *c, size_t max_bytes,
                                   long long seq, struct shell_output *out, unsigned long *token)
{
    *token = 0;
    if (c->fl_token && c->fl_probe) {
        /* Written: has the client's TCP acknowledged it by now? (It has
         * when this Receive came on the same connection.) */
        int p = c->fl_probe(c->fl_probe_arg);
        if (p > 0)
            delivered(m, c);
        else if (p < 0)
            rollback(c);
    }
    if (c->fl_token || c->fl_kept) {
        if (seq < 0 && c->fl_token)
            return WSM_ERR_TIMED_OUT; /* its waiter fires when that settles */
        if (seq == c->fl_seq) {
            /* The client asks again for what it did not get: the same
             * bytes, under a new token (the old one settles nothing). */
            enum wsm_err e = copy_out(m, c, out);
            if (e)
                return e;
            c->fl_token = *token = ++m->next_fl_token;
            c->fl_kept = 0;
            /* The old reply's probe dies with its token (its drain is
             * freed when it settles, which now matches nothing). */
            c->fl_probe = NULL;
            c->fl_probe_arg = NULL;
            return WSM_OK;
        }
        commit(m, c); /* another SequenceId: the client has that reply */
    }
    if (shell__cmd_held(c))
        return WSM_ERR_TIMED_OUT; /* the exit is due any moment */
    size_t a = c->out[0].r.len, b = c->out[1].r.len;
    if (a > room(&out->out))
        a = room(&out->out);
    if (b > room(&out->err))
        b = room(&out->err);
    if (a + b > max_bytes) {
        /* stderr gets at least half when both have more than that. */
        if (b <= max_bytes / 2)
            a = max_bytes - b;
        else if (a <= max_bytes / 2)
            b = max_bytes - a;
        else {
            a = max_bytes / 2;
            b = max_bytes - a;
        }
    }
    c->fl_len[0] = a;
    c->fl_len[1] = b;
    for (int k = 0; k < 2; k++) {
        const struct ostream *s = &c->out[k];
        c->fl_end[k] = s->eof && s->r.len == c->fl_len[k] && !s->end_told;
    }
    c->fl_done = !c->done_told && c->exited && c->out[0].eof && c->out[1].eof &&
                 c->out[0].r.len == a && c->out[1].r.len == b;
    if (!a && !b && !c->fl_end[0] && !c->fl_end[1] && !c->fl_done) {
        rollback(c);
        if (c->done_told) {
            /* Finished and told before: told again, nothing to settle. */
            out->done = out->out_end = out->err_end = 1;
            out->exit_code = c->exit_code;
            return WSM_OK;
        }
        return WSM_ERR_TIMED_OUT;
    }
    enum wsm_err e = copy_out(m, c, out);
    if (e) {
        rollback(c);
        return e;
    }
    c->fl_seq = seq;
    c->fl_token = *token = ++m->next_fl_token;
    return WSM_OK;
}

void shell__confirm_kept(struct shell_mgr *m, struct cmd *c)
{
    if (c->fl_kept)
        commit(m, c);
}

static void reset_out(struct shell_output *out)
{
    out->out_end = out->err_end = out->done = 0;
    out->exit_code = 0;
}

enum wsm_err shell_receive_tx(struct shell_mgr *m, const char *owner, const char *shell_id,
                              const char *cmd_id, size_t max_bytes, long long seq,
                              struct shell_output *out, unsigned long *token)
{
    reset_out(out);
    *token = 0;
    pthread_mutex_lock(&m->lock);
    enum wsm_err e = WSM_OK;
    struct cmd *c = shell__lookup_live(m, owner, shell_id, cmd_id, &e);
    if (c)
        e = receive_locked(m, c, max_bytes, seq, out, token);
    pthread_mutex_unlock(&m->lock);
    return e;
}

enum wsm_err shell_receive(struct shell_mgr *m, const char *owner, const char *shell_id,
                           const char *cmd_id, size_t max_bytes, struct shell_output *out)
{
    /* The caller has the bytes once we return: delivered at once. */
    reset_out(out);
    pthread_mutex_lock(&m->lock);
    enum wsm_err e = WSM_OK;
    struct cmd *c = shell__lookup_live(m, owner, shell_id, cmd_id, &e);
    unsigned long token = 0;
    if (c)
        e = receive_locked(m, c, max_bytes, -1, out, &token);
    if (e == WSM_OK && token)
        commit(m, c);
    pthread_mutex_unlock(&m->lock);
    return e;
}

void shell_settle_probe(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, unsigned long token, int (*probe)(void *),
                        void *probe_arg)
{
    if (!token)
        return;
    pthread_mutex_lock(&m->lock);
    struct cmd *c = shell__lookup(m, owner, shell_id, cmd_id);
    if (c && c->fl_token == token) {
        c->fl_probe = probe;
        c->fl_probe_arg = probe_arg;
        if (c->nwaiters) {
            /* The next Receive came before this was known (on the client's
             * other connection) and waits: ask now, not at the drain's end. */
            int p = probe(probe_arg);
            if (p > 0)
                delivered(m, c);
            else if (p < 0)
                rollback(c);
            if (!c->fl_token) {
                shell__check_ready(m, c);
                if (m->nfired)
                    shell__poke(m);
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
}

void shell_settle(struct shell_mgr *m, const char *owner, const char *shell_id, const char *cmd_id,
                  unsigned long token, int ok)
{
    if (!token)
        return;
    pthread_mutex_lock(&m->lock);
    struct cmd *c = shell__lookup(m, owner, shell_id, cmd_id);
    if (c && c->fl_token == token) {
        if (ok)
            delivered(m, c);
        else
            rollback(c);
        /* Parked Receives of the command may go now. */
        shell__check_ready(m, c);
        if (m->nfired)
            shell__poke(m);
    }
    pthread_mutex_unlock(&m->lock);
}
