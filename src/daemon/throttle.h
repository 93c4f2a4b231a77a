/* Authentication throttling: failed logins counted per client address and
 * per user name in a fixed-size table, so that guessing is slowed to a few
 * tries a minute without sleeping on a worker thread and without letting an
 * attacker lock a user out of the places where they already logged in.
 * Design and trade-offs: docs/internals/auth-throttle.md. */
#ifndef WSMD_THROTTLE_H
#define WSMD_THROTTLE_H

#include <stddef.h>
#include <time.h>

#include "wsm/wsm.h"

struct sockaddr;
struct wsmd_throttle;

struct wsmd_throttle_cfg {
    unsigned max_per_address; /* failures in window_sec before an address is held; 0: off */
    unsigned max_per_user;    /* failures in window_sec before a name is held; 0: off */
    unsigned window_sec;      /* AuthFailureWindowSec */
    unsigned lockout_sec;     /* AuthLockoutSec: how long a hold lasts */
    unsigned trust_sec;       /* how long a login keeps its (user, address) pair trusted */
};

/* The defaults (config.c starts from them). */
#define WSMD_THROTTLE_MAX_PER_ADDRESS 20
#define WSMD_THROTTLE_MAX_PER_USER 10
#define WSMD_THROTTLE_WINDOW_SEC 300
#define WSMD_THROTTLE_LOCKOUT_SEC 60
#define WSMD_THROTTLE_TRUST_SEC 86400
/* Entries of the daemon's table (about 160 bytes each). */
#define WSMD_THROTTLE_SLOTS 4096

/* slots: the table's size, rounded up to a multiple of the set size (16);
 * it never grows. */
enum wsm_err wsmd__throttle_new(const struct wsmd_throttle_cfg *cfg, size_t slots,
                                struct wsmd_throttle **out);
void wsmd__throttle_free(struct wsmd_throttle *t);
/* New limits (SIGHUP, reload.c); what is counted so far is kept. */
void wsmd__throttle_set_cfg(struct wsmd_throttle *t, const struct wsmd_throttle_cfg *cfg);
/* Tests: a clock other than time(NULL). */
void wsmd__throttle_set_clock(struct wsmd_throttle *t, time_t (*now)(void));

/* The key of a client address: the IPv4 address, or the /64 of an IPv6
 * one (one host owns a whole /64); an IPv4-mapped IPv6 address is its
 * IPv4 address. "?" if sa is NULL or of another family. */
void wsmd__throttle_addr(const struct sockaddr *sa, char *out, size_t n);

/* Before checking credentials: 0 if the attempt may be checked, else the
 * seconds until it may (the address, or the user name when known, is held
 * and the pair has no recent login). Takes no time. user may be NULL
 * (not known before the check: NTLM, Kerberos, certificates). */
unsigned wsmd__throttle_check(struct wsmd_throttle *t, const char *addr, const char *user);
/* A failed attempt: logs one line (user escaped, address, scheme, reason;
 * never a password) and counts it against the address, the user name (if
 * any) and their pair; logs when a hold starts. */
void wsmd__throttle_fail(struct wsmd_throttle *t, const char *addr, const char *user,
                         const char *scheme, const char *reason);
/* A successful login: the (user, address) pair is trusted for trust_sec
 * (it gets past a hold of the user name). */
void wsmd__throttle_ok(struct wsmd_throttle *t, const char *addr, const char *user);

/* Tests: entries in use, and the table's fixed size. */
size_t wsmd__throttle_used(struct wsmd_throttle *t);
size_t wsmd__throttle_slots(const struct wsmd_throttle *t);

/* Copies s for a log field: at most n-1 bytes, spaces, quotes, backslashes,
 * '=' and control or non-ASCII bytes as %XX, so that a user name can never
 * forge a key or a line. */
void wsmd__log_escape(char *dst, size_t n, const char *s);
/* The escaping under both wsmd__log_escape (text 0: a name; spaces, '='
 * and non-ASCII bytes escaped too) and wsmd__reload_escape (text 1: spaces,
 * '=' and UTF-8 kept): '"', '\\', '%' and control bytes as %XX, at most
 * n-1 bytes. */
void wsmd__log_pct(char *dst, size_t n, const char *s, int text);

#endif
