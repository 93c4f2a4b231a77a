/* wsmd-ipmi: wsmd's IPMI helper.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors
 *
 * This program is free software: you can redistribute it and/or modify it
 * under the terms of the GNU General Public License as published by the
 * Free Software Foundation, either version 3 of the License, or (at your
 * option) any later version. It is distributed in the hope that it will
 * be useful, but WITHOUT ANY WARRANTY; without even the implied warranty
 * of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See the GNU
 * General Public License (src/ipmi/COPYING) for more details.
 *
 * It links FreeIPMI (GPL-3+), which is why it is a program of its own:
 * wsmd (MIT) starts it and talks to it over one stream socket with the
 * frames of ipmiframe.h (docs/internals/ipmi.md). A hung BMC or a crash
 * in here never stalls or takes down the daemon.
 *
 * Shape: the main thread reads requests; every BMC has its own thread,
 * its own IPMI session (kept open and kept alive: BMCs have few session
 * slots) and its own SDR cache (read once per session, so an enumeration
 * does not fetch the repository again), and a bounded queue. Replies are
 * written whole under one lock, in whatever order BMCs answer. EOF on the
 * socket (wsmd went away) closes every session and ends the program.
 *
 * usage: wsmd-ipmi FD    (FD: the socket; its first frame is CONFIG) */
#include <sys/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <freeipmi/freeipmi.h>

#include "helper.h"

static int sock = -1;
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stopping;
static struct bmc *bmcs;
static size_t nbmcs;
char cachedir[256]; /* helper.h */

long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* FreeIPMI's session timeout is also the session's idle lifetime: a
 * session that heard nothing for that long fails its next command at
 * once ("session timeout"). So a session is kept alive at half of it, and
 * one idle for longer is opened anew before use. */
void logline(const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "wsmd-ipmi: %s\n", line);
}

void send_frame(struct ipmi_wbuf *w)
{
    if (ipmiw_finish(w) != 0)
        return;
    pthread_mutex_lock(&write_mu);
    /* A write error means wsmd is gone: the reader sees EOF and ends. */
    (void)ipmi_write_all(sock, w->p, w->len);
    pthread_mutex_unlock(&write_mu);
}

void send_error(uint32_t id, uint16_t op, uint16_t st, const char *bmc, const char *msg)
{
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, id, op | IPMI_OP_REPLY, st);
    if (bmc)
        ipmiw_str(&w, IPMI_T_BMC, bmc);
    char m[IPMI_MESSAGE_MAX + 1];
    copy_msg(m, sizeof(m), msg);
    ipmiw_str(&w, IPMI_T_MESSAGE, m);
    send_frame(&w);
    ipmiw_free(&w);
}

/* ---- workaround names (FreeIPMI's, as its tools spell them) ---------- */

static const struct {
    const char *name;
    unsigned flag;
} workarounds[] = {
    {"authcap", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_AUTHENTICATION_CAPABILITIES},
    {"intel20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_INTEL_2_0_SESSION},
    {"supermicro20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUPERMICRO_2_0_SESSION},
    {"sun20", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_SUN_2_0_SESSION},
    {"opensesspriv", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE},
    {"integritycheckvalue", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NON_EMPTY_INTEGRITY_CHECK_VALUE},
    {"nochecksumcheck", IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_NO_CHECKSUM_CHECK},
};

static unsigned workaround_flags(const char *list)
{
    unsigned f = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        for (size_t i = 0; i < sizeof(workarounds) / sizeof(workarounds[0]); i++)
            if (!strcasecmp(t, workarounds[i].name))
                f |= workarounds[i].flag;
    return f; /* names of other workarounds (in-band, SDR) were checked by wsmd */
}

/* ---- one BMC's session ------------------------------------------------ */

/* Copies a message, cut to fit (messages are for people, and bounded). */
void copy_msg(char *dst, size_t n, const char *src)
{
    size_t l = src ? strlen(src) : 0;
    if (l >= n)
        l = n - 1;
    memcpy(dst, src ? src : "", l);
    dst[l] = '\0';
}

void set_state(struct bmc *b, int st, const char *msg)
{
    pthread_mutex_lock(&b->mu);
    b->state = st;
    copy_msg(b->msg, sizeof(b->msg), msg);
    pthread_mutex_unlock(&b->mu);
}

void close_session(struct bmc *b)
{
    if (b->sread)
        ipmi_sensor_read_ctx_destroy(b->sread);
    b->sread = NULL;
    /* The local BMC's device was opened as root, before the helper took
     * its account: it is kept (it has no session to lose) until exit. */
    if (b->ctx && !(b->cfg.inband && !stopping)) {
        ipmi_ctx_close(b->ctx); /* Close Session: frees the BMC's slot */
        ipmi_ctx_destroy(b->ctx);
    }
    b->ctx = NULL;
    drop_sdr(b);
}

/* The status for a FreeIPMI api error. */
uint16_t status_of(int errnum)
{
    switch (errnum) {
    case IPMI_ERR_USERNAME_INVALID:
    case IPMI_ERR_PASSWORD_INVALID:
    case IPMI_ERR_K_G_INVALID:
    case IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT:
    case IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED:
    case IPMI_ERR_AUTHENTICATION_TYPE_UNAVAILABLE:
    case IPMI_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
    case IPMI_ERR_PASSWORD_VERIFICATION_TIMEOUT:
        return IPMI_ST_AUTH;
    case IPMI_ERR_CONNECTION_TIMEOUT:
    case IPMI_ERR_SESSION_TIMEOUT:
    case IPMI_ERR_MESSAGE_TIMEOUT:
    case IPMI_ERR_IPMI_2_0_UNAVAILABLE:
    case IPMI_ERR_HOSTNAME_INVALID:
        return IPMI_ST_UNREACHABLE;
    case IPMI_ERR_BMC_BUSY:
        return IPMI_ST_BUSY;
    default:
        return IPMI_ST_BMC_ERROR;
    }
}

static unsigned timeout_of(const struct bmc *b)
{
    return b->cfg.timeout_ms ? b->cfg.timeout_ms : DEFAULT_TIMEOUT_MS;
}

/* Opens the session (and reads the SDR) when there is none. 0, or the
 * status with err filled. */
static uint16_t ensure_session(struct bmc *b, char *err, size_t errn)
{
    if (b->cfg.inband)
        return ensure_inband(b, err, errn);
    if (b->ctx && b->recs && now_ms() - b->last_ok < (long long)timeout_of(b))
        return IPMI_ST_OK;
    if (b->ctx) {
        /* Idle past its lifetime: the SDR cache stays (the repository
         * has not changed for a lapse of ours), the session is new. */
        ipmi_sensor_read_ctx_destroy(b->sread);
        b->sread = NULL;
        ipmi_ctx_close(b->ctx);
        ipmi_ctx_destroy(b->ctx);
        b->ctx = NULL;
    }
    close_session(b);
    if (!(b->ctx = ipmi_ctx_create())) {
        snprintf(err, errn, "out of memory");
        return IPMI_ST_INTERNAL;
    }
    char host[IPMI_HOST_MAX + 16];
    /* FreeIPMI takes the port after the host, as its tools' -h does. */
    snprintf(host, sizeof(host), "%s:%u", b->cfg.host, b->cfg.port ? b->cfg.port : 623);
    unsigned to = timeout_of(b);
    unsigned retrans = to / 4 ? to / 4 : 1;
    int priv = b->cfg.privilege ? b->cfg.privilege : IPMI_PRIVILEGE_LEVEL_ADMIN;
    int cipher = b->cfg.cipher >= 0 ? b->cfg.cipher : 3;
    if (ipmi_ctx_open_outofband_2_0(b->ctx, host, b->cfg.user, b->cfg.password, NULL, 0,
                                    (uint8_t)priv, (uint8_t)cipher, to, retrans, b->wflags,
                                    IPMI_FLAGS_DEFAULT) < 0) {
        int en = ipmi_ctx_errnum(b->ctx);
        snprintf(err, errn, "cannot open a session with %s: %s", host, ipmi_ctx_errormsg(b->ctx));
        ipmi_ctx_destroy(b->ctx);
        b->ctx = NULL;
        return status_of(en);
    }
    if (!(b->sread = ipmi_sensor_read_ctx_create(b->ctx))) {
        snprintf(err, errn, "out of memory");
        close_session(b);
        return IPMI_ST_INTERNAL;
    }
    b->last_ok = now_ms();
    if (!b->recs) {
        if (load_sdr(b, err, errn) != 0) {
            close_session(b);
            return IPMI_ST_BMC_ERROR;
        }
        logline("event=ipmi-session-open bmc=%s host=%s sdr_records=%zu", b->cfg.name, host,
                b->nrecs);
    }
    return IPMI_ST_OK;
}

static void keepalive(struct bmc *b)
{
    uint8_t rq[1] = {0x01}, rs[64]; /* Get Device ID */
    if (!b->ctx || b->cfg.inband)
        return; /* no session to keep (the local BMC's device) */
    if (now_ms() - b->last_ok >= (long long)timeout_of(b)) {
        char err[768];
        ensure_session(b, err, sizeof(err)); /* lapsed: a new session, quietly */
        return;
    }
    if (ipmi_cmd_raw(b->ctx, 0, IPMI_NET_FN_APP_RQ, rq, 1, rs, sizeof(rs)) >= 0) {
        b->last_ok = now_ms();
    } else {
        logline("event=ipmi-session-lost bmc=%s reason=\"%s\"", b->cfg.name,
                ipmi_ctx_errormsg(b->ctx));
        close_session(b);
        set_state(b, IPMI_BMC_DOWN, "the session was lost");
    }
}

static void run_job(struct bmc *b, const struct job *j)
{
    char err[768];
    uint16_t st = ensure_session(b, err, sizeof(err));
    if (st != IPMI_ST_OK) {
        logline("event=ipmi-bmc-error bmc=%s reason=\"%s\"", b->cfg.name, err);
        set_state(b, IPMI_BMC_DOWN, err);
        send_error(j->id, j->op, st, b->cfg.name, err);
        return;
    }
    set_state(b, IPMI_BMC_UP, NULL);
    switch (j->op) {
    case IPMI_OP_SENSORS:
        do_sensors(b, j->id);
        break;
    case IPMI_OP_SEL:
        do_sel(b, j->id);
        break;
    case IPMI_OP_SEL_CLEAR:
        do_sel_clear(b, j->id);
        break;
    case IPMI_OP_CHASSIS_STATUS:
        do_chassis_status(b, j);
        break;
    case IPMI_OP_CHASSIS_CONTROL:
        do_chassis_control(b, j);
        break;
    case IPMI_OP_RAW:
        do_raw(b, j);
        break;
    case IPMI_OP_FRU:
        do_fru(b, j);
        break;
    default:
        send_error(j->id, j->op, IPMI_ST_UNSUPPORTED, b->cfg.name,
                   "this request is not served by this version of wsmd-ipmi");
    }
}

static void *bmc_main(void *arg)
{
    struct bmc *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !stopping) {
            struct timespec t;
            long ka = timeout_of(b) / 2;
            if (ka > KEEPALIVE_S * 1000L)
                ka = KEEPALIVE_S * 1000L;
            clock_gettime(CLOCK_REALTIME, &t);
            t.tv_sec += ka / 1000;
            t.tv_nsec += (ka % 1000) * 1000000L;
            if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&b->cv, &b->mu, &t) == ETIMEDOUT && !b->head && !stopping) {
                pthread_mutex_unlock(&b->mu);
                keepalive(b);
                pthread_mutex_lock(&b->mu);
            }
        }
        if (stopping)
            break;
        struct job *j = b->head;
        b->head = j->next;
        if (!b->head)
            b->tail = NULL;
        b->queued--;
        pthread_mutex_unlock(&b->mu);
        run_job(b, j);
        free(j->req);
        free(j);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    close_session(b);
    return NULL;
}

/* ---- the request loop ------------------------------------------------- */

static struct bmc *find_bmc(const char *name)
{
    for (size_t i = 0; i < nbmcs; i++)
        if (!strcmp(bmcs[i].cfg.name, name))
            return &bmcs[i];
    return NULL;
}

static void do_list(uint32_t id)
{
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, id, IPMI_OP_LIST | IPMI_OP_REPLY, IPMI_ST_OK);
    for (size_t i = 0; i < nbmcs; i++) {
        struct ipmi_bmc c = bmcs[i].cfg;
        c.password[0] = '\0';
        pthread_mutex_lock(&bmcs[i].mu);
        c.state = bmcs[i].state;
        copy_msg(c.message, sizeof(c.message), bmcs[i].msg);
        pthread_mutex_unlock(&bmcs[i].mu);
        ipmi_bmc_encode(&w, &c, 0);
    }
    send_frame(&w);
    ipmiw_free(&w);
}

static int read_config(const unsigned char *body, size_t n)
{
    struct ipmi_rd r;
    struct ipmi_field f;
    int k;
    ipmi_rd_init(&r, body, n);
    if (!(bmcs = calloc(IPMI_MAX_BMCS, sizeof(*bmcs))))
        return -1;
    while ((k = ipmi_rd_next(&r, &f)) == 1) {
        if (f.tag != IPMI_T_RECORD)
            continue;
        if (nbmcs == IPMI_MAX_BMCS || ipmi_bmc_decode(f.v, f.len, &bmcs[nbmcs].cfg) != 0)
            return -1;
        struct bmc *b = &bmcs[nbmcs++];
        b->wflags = workaround_flags(b->cfg.workarounds);
        pthread_mutex_init(&b->mu, NULL);
        pthread_cond_init(&b->cv, NULL);
        if (!(b->sdr = ipmi_sdr_ctx_create()))
            return -1;
    }
    return k < 0 ? -1 : 0;
}

static void dispatch(const struct ipmi_frame *fr)
{
    if (fr->op == IPMI_OP_LIST) {
        do_list(fr->id);
        return;
    }
    if (fr->op < IPMI_OP_SENSORS || fr->op > IPMI_OP_SEL_CLEAR) {
        send_error(fr->id, fr->op, IPMI_ST_UNSUPPORTED, NULL, "unknown request");
        return;
    }
    struct ipmi_rd r;
    struct ipmi_field f;
    char name[IPMI_NAME_MAX + 1] = "";
    int k;
    ipmi_rd_init(&r, fr->body, fr->blen);
    while ((k = ipmi_rd_next(&r, &f)) == 1)
        if (f.tag == IPMI_T_BMC && ipmi_field_str(&f, name, sizeof(name)) != 0)
            k = -1;
    if (k < 0 || !name[0]) {
        send_error(fr->id, fr->op, IPMI_ST_BAD_REQUEST, NULL, "malformed request");
        return;
    }
    struct bmc *b = find_bmc(name);
    if (!b) {
        char m[IPMI_MESSAGE_MAX + 1];
        snprintf(m, sizeof(m), "no BMC named \"%s\" is configured (IpmiHosts)", name);
        send_error(fr->id, fr->op, IPMI_ST_UNKNOWN_BMC, name, m);
        return;
    }
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        send_error(fr->id, fr->op, IPMI_ST_INTERNAL, name, "out of memory");
        return;
    }
    j->id = fr->id;
    j->op = fr->op;
    /* The fields go along: a chassis action or a raw command is read by
     * the BMC's thread (the frame's buffer is reused for the next one). */
    if (fr->blen && !(j->req = malloc(fr->blen))) {
        free(j);
        send_error(fr->id, fr->op, IPMI_ST_INTERNAL, name, "out of memory");
        return;
    }
    if (fr->blen)
        memcpy(j->req, fr->body, fr->blen);
    j->nreq = fr->blen;
    pthread_mutex_lock(&b->mu);
    int full = b->queued >= QUEUE_MAX;
    if (!full) {
        if (b->tail)
            b->tail->next = j;
        else
            b->head = j;
        b->tail = j;
        b->queued++;
        pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    if (full) {
        free(j->req);
        free(j);
        send_error(fr->id, fr->op, IPMI_ST_BUSY, name,
                   "too many requests are waiting for this BMC");
    }
}

/* SIGTERM (wsmd ends a helper that did not leave within 1 s of EOF): the
 * sessions cannot be closed from a handler, but the SDR cache files and
 * their directory are removed (unlink and rmdir are async-signal-safe). */
static void on_term(int sig)
{
    (void)sig;
    for (size_t i = 0; bmcs && i < nbmcs; i++)
        if (bmcs[i].sdr_path[0])
            unlink(bmcs[i].sdr_path);
    rmdir(cachedir);
    _exit(1);
}

int main(int argc, char **argv)
{
    if ((argc != 2 && !(argc == 5 && !strcmp(argv[2], "--drop"))) || (sock = atoi(argv[1])) < 3) {
        fprintf(stderr, "usage: wsmd-ipmi FD [--drop UID GID] (started by wsmd; see "
                        "docs/internals/ipmi.md)\n");
        return 2;
    }
    /* wsmd executes it through a descriptor (execveat), which names the
     * process after the descriptor: ps and pgrep should say wsmd-ipmi. */
    prctl(PR_SET_NAME, "wsmd-ipmi", 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_term);
    const char *tmp = getenv("TMPDIR");
    snprintf(cachedir, sizeof(cachedir), "%s/wsmd-ipmi.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(cachedir)) {
        logline("event=ipmi-error reason=\"cannot make a private directory: %s\"", strerror(errno));
        return 1;
    }
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    struct ipmi_frame fr;
    int rc = ipmi_frame_read(sock, &buf, &cap, &n, IPMI_REQUEST_MAX);
    if (rc != 1 || ipmi_frame_parse(buf, n, IPMI_REQUEST_MAX, &fr) != 0 ||
        fr.op != IPMI_OP_CONFIG || read_config(fr.body, fr.blen) != 0) {
        logline("event=ipmi-error reason=\"no valid configuration frame\"");
        rmdir(cachedir);
        return 1;
    }
    memset(buf, 0, n); /* the passwords */
    open_inband(bmcs, nbmcs);
    if (argc == 5 && drop_to(argv[3], argv[4], cachedir) != 0) {
        logline("event=ipmi-error reason=\"cannot take the account %s:%s\"", argv[3], argv[4]);
        return 1;
    }
    for (size_t i = 0; i < nbmcs; i++)
        if (pthread_create(&bmcs[i].th, NULL, bmc_main, &bmcs[i]) != 0) {
            logline("event=ipmi-error reason=\"cannot start a thread\"");
            return 1;
        }
    logline("event=ipmi-helper-start pid=%ld bmcs=%zu", (long)getpid(), nbmcs);
    while ((rc = ipmi_frame_read(sock, &buf, &cap, &n, IPMI_REQUEST_MAX)) == 1) {
        if (ipmi_frame_parse(buf, n, IPMI_REQUEST_MAX, &fr) != 0 || (fr.op & IPMI_OP_REPLY)) {
            rc = -1;
            break;
        }
        dispatch(&fr);
    }
    if (rc < 0)
        logline("event=ipmi-error reason=\"bad frame from wsmd: %s\"", strerror(errno));
    /* wsmd went away: close every session (each thread ends its own). */
    for (size_t i = 0; i < nbmcs; i++) {
        pthread_mutex_lock(&bmcs[i].mu);
        stopping = 1;
        pthread_cond_signal(&bmcs[i].cv);
        pthread_mutex_unlock(&bmcs[i].mu);
    }
    for (size_t i = 0; i < nbmcs; i++) {
        pthread_join(bmcs[i].th, NULL);
        ipmi_sdr_ctx_destroy(bmcs[i].sdr);
        struct job *j = bmcs[i].head;
        while (j) {
            struct job *nx = j->next;
            free(j->req);
            free(j);
            j = nx;
        }
    }
    rmdir(cachedir);
    free(buf);
    free(bmcs);
    logline("event=ipmi-helper-exit sessions=closed");
    return 0;
}
