/* Private to winrm quickconfig: what its files share. quickconfig.c has
 * the command line and the stages; qcsys.c runs programs and finds a
 * running wsmd; qcconf.c reads the configuration file and plans the
 * listener's edit. */
#ifndef WINRM_QC_PRIV_H
#define WINRM_QC_PRIV_H

#include <limits.h>
#include <stddef.h>

#include "wsm/wsm.h"

#define UNIT "wsmd.service"
#define MAX_LISTEN 16
#define RELOAD_WAIT_MS 10000

struct listen {
    int https, port, any, v6;
    char host[64];
    char value[256]; /* as written in the file; "" for the embedded default */
};

struct qc {
    int quiet, https;
    long port;
    const char *cfg, *cert, *key;
    char real[PATH_MAX];
    struct listen l[MAX_LISTEN];
    size_t nl;
    int from_file; /* the file has Listen lines (else: the embedded default) */
    char cert_cfg[PATH_MAX], key_cfg[PATH_MAX];
};

struct plan {
    int configured;               /* a listener on * for the transport exists */
    int port;                     /* the new listener's */
    char add[256];                /* its Listen value */
    char keep[256];               /* the embedded default, written out to keep it */
    char remove[MAX_LISTEN][256]; /* Listen lines the new listener replaces */
    size_t nremove;
    int make_cert; /* create cert_path/key_path */
    int set_cert;  /* write CertificateFile/KeyFile */
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    char host[256]; /* the created certificate's name */
};

/* ---- running programs (qcsys.c) --------------------------------------- */

/* The systemctl to run: $SYSTEMCTL (tests point it at a script), or
 * systemctl when systemd is the service manager; NULL without it. */
const char *wsmd__qc_systemctl(void);
/* Runs argv (PATH searched) with its output on out (NULL: discarded);
 * its exit status, or -1. */
int wsmd__qc_run(const char *const *argv, char *out, size_t outn);
/* systemctl verb wsmd.service; its exit status. */
int wsmd__qc_sysctl(const char *verb);
/* An executable name in PATH (or /usr/sbin, /sbin: root's tools). */
int wsmd__qc_have_program(const char *name);
/* The wsmd that reads our file: its main process; 0 if none. */
long wsmd__qc_find_wsmd(const char *real);
/* 1 once a socket listens on the IPv4 wildcard address and port, within
 * RELOAD_WAIT_MS; else 0. */
int wsmd__qc_wait_listening(int port);

/* ---- the configuration file (qcconf.c) ------------------------------- */

/* The Listen lines and certificate keys of q->real into q; -1 (why set)
 * if it cannot be read. */
int wsmd__qc_read_config(struct qc *q, char *why, size_t n);
/* What stage 2 changes, into p; -1 (why set) if it cannot be done. */
int wsmd__qc_plan_listener(struct qc *q, struct plan *p, char *why, size_t n);
/* The plan (arg) as one edit of the file (a wsmd_cfgfile_fn). */
enum wsm_err wsmd__qc_apply_plan(const char *text, size_t len, void *arg, struct wsm_buf *out);

#endif
