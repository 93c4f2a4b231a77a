/* wsmd-ipmi's parts (wsmd-ipmi.c: the request loop and the sessions;
 * sensors.c; sel.c). One program: its cross-file names need no prefix.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 * Copyright 2026 The wsmd authors (see wsmd-ipmi.c and COPYING) */
#ifndef WSMD_IPMI_HELPER_H
#define WSMD_IPMI_HELPER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <freeipmi/freeipmi.h>

#include "ipmiframe.h"

#define DEFAULT_TIMEOUT_MS 5000
#define KEEPALIVE_S 20 /* at most; ipmi_sim and most BMCs drop a session idle for ~60 s */
#define QUEUE_MAX 32
#define MAX_SDR_RECORDS 4096

struct job {
    struct job *next;
    uint32_t id;
    uint16_t op;
    unsigned char *req; /* the request's fields (a copy), for ops that take more than the BMC */
    size_t nreq;
};

/* An SDR record; a sensor's, once read, also parsed (s): the SDR's part
 * of the sensor (identity, units, decoding, threshold masks) does not
 * change while the session lasts, and FreeIPMI's SDR parsing (a fiid
 * object per field) cost about as much CPU as the commands themselves. */
struct sdr_rec {
    unsigned char *p;
    unsigned n;
    struct ipmi_sensor *s; /* NULL: not parsed yet */
    signed char kind;      /* 1 a sensor (s), -1 no sensor record */
    uint8_t fmt, threshold;
};

struct bmc {
    struct ipmi_bmc cfg;
    unsigned wflags;
    pthread_t th;
    pthread_mutex_t mu; /* queue and the state below */
    pthread_cond_t cv;
    struct job *head, *tail;
    unsigned queued;
    int state;
    char msg[IPMI_MESSAGE_MAX + 1];
    /* Owned by the BMC's thread. */
    ipmi_ctx_t ctx;
    ipmi_sdr_ctx_t sdr;
    ipmi_sensor_read_ctx_t sread;
    struct sdr_rec *recs;
    size_t nrecs;
    long long last_ok;  /* ms (CLOCK_MONOTONIC) of the last answer on the session */
    char sdr_path[512]; /* the SDR cache file, open while the BMC is known */
    /* The SEL as last read, valid while Get SEL Info reports the same
     * last addition and erase: an enumeration then costs one command. */
    struct ipmi_sel_entry *sel;
    size_t nsel;
    int sel_valid, sel_cut;
    uint32_t sel_added, sel_erased;
    /* The FRU areas of every device, read once per session (FRU data is
     * written at manufacture; a BMC that was lost may come back another
     * one, so drop_sdr forgets them with the SDR). */
    struct ipmi_fru *fru;
    size_t nfru;
    int fru_valid;
};

long long now_ms(void);
void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies a message, cut to fit. */
void copy_msg(char *dst, size_t n, const char *src);
/* Writes a finished frame whole, under the write lock. */
void send_frame(struct ipmi_wbuf *w);
void send_error(uint32_t id, uint16_t op, uint16_t st, const char *bmc, const char *msg);
void set_state(struct bmc *b, int st, const char *msg);
/* Closes the session (Close Session frees the BMC's slot) and drops the SDR. */
void close_session(struct bmc *b);
/* The reply status for a FreeIPMI api error number. */
uint16_t status_of(int errnum);

extern char cachedir[256]; /* the SDR cache files' private folder */
/* sensors.c: reads the SDR repository: 0, or -1 with err; forgets it. */
int load_sdr(struct bmc *b, char *err, size_t errn);
void drop_sdr(struct bmc *b);
/* inband.c: the local BMCs' devices opened (as root), the account taken,
 * and the session check of a local BMC (its device stays open). */
void open_inband(struct bmc *bmcs, size_t nbmcs);
int drop_to(const char *uid, const char *gid, const char *dir);
uint16_t ensure_inband(struct bmc *b, char *err, size_t errn);

/* The BMC's thread runs these with a session open. */
void do_sensors(struct bmc *b, uint32_t id);
void do_sel(struct bmc *b, uint32_t id);
void do_sel_clear(struct bmc *b, uint32_t id);
/* chassis.c: CHASSIS_STATUS, CHASSIS_CONTROL and RAW; fru.c: FRU. */
void do_chassis_status(struct bmc *b, const struct job *j);
void do_chassis_control(struct bmc *b, const struct job *j);
void do_raw(struct bmc *b, const struct job *j);
void do_fru(struct bmc *b, const struct job *j);
/* A command on the session (its answer marks the session alive): the
 * response's length (command byte, completion code, data), or -1 with the
 * status and err set (the session dropped when it was lost). */
int bmc_cmd(struct bmc *b, uint8_t lun, uint8_t netfn, const uint8_t *rq, unsigned nrq, uint8_t *rs,
            unsigned nrs, uint16_t *st, char *err, size_t errn);

#endif
