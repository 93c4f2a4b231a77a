/* The channel map and the System fields of a journal entry
 * (docs/internals/evsrc.md, "Channels" and "The System element").
 *
 * Windows keeps one log per channel; the journal keeps one stream with
 * fields saying who wrote each entry. An entry is put in exactly one of
 * Application, System and Security, from what journald itself recorded
 * where it can (the transport, the pid) and from the syslog facility the
 * writer chose; an entry of a service is also in its unit's channel. */
#include <string.h>

#include "evsrc_priv.h"

const char *const wsmd__evchan_names[WSMD_EVCHAN__COUNT] = {
    [WSMD_EVCHAN_APPLICATION] = "Application",
    [WSMD_EVCHAN_SYSTEM] = "System",
    [WSMD_EVCHAN_SECURITY] = "Security",
};

static int is(const struct wsmd_evfield *f, const char *s)
{
    size_t n = strlen(s);
    return f && f->vlen == n && memcmp(f->val, s, n) == 0;
}

static int starts(const struct wsmd_evfield *f, const char *s)
{
    size_t n = strlen(s);
    return f && f->vlen >= n && memcmp(f->val, s, n) == 0;
}

const struct wsmd_evfield *wsmd__evin_field(const struct wsmd_evin *e, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < e->n; i++)
        if (e->f[i].nlen == n && memcmp(e->f[i].name, name, n) == 0)
            return &e->f[i];
    return NULL;
}

/* A decimal number of at most 18 digits with nothing around it, else -1. */
static long long num(const struct wsmd_evfield *f)
{
    if (!f || f->vlen == 0 || f->vlen > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < f->vlen; i++) {
        if (f->val[i] < '0' || f->val[i] > '9')
            return -1;
        v = v * 10 + (f->val[i] - '0');
    }
    return v;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Level from PRIORITY (syslog's 0..7): emerg, alert, crit are Critical (1),
 * err Error (2), warning Warning (3), notice and info Information (4),
 * debug Verbose (5). None (or nonsense): Information, as journald
 * itself assumes info for an entry without a priority. */
static int level_of(const struct wsmd_evfield *f)
{
    static const int map[8] = {1, 1, 1, 2, 3, 4, 4, 5};
    long long p = num(f);
    return p >= 0 && p <= 7 ? map[p] : 4;
}

/* EventID: EVENT_ID= (what `wsmd eventcreate` writes, and what any program
 * may add with sd_journal_send), 0..65535 as Windows' EventID is 16 bits;
 * else the first four hex digits of MESSAGE_ID (systemd's catalogued
 * messages: a stable number per kind of message, so a query can name
 * "unit started" as Windows names "service entered the running state");
 * else 0. */
static unsigned eventid_of(const struct wsmd_evin *e)
{
    long long v = num(wsmd__evin_field(e, "EVENT_ID"));
    if (v >= 0 && v <= 65535)
        return (unsigned)v;
    const struct wsmd_evfield *m = wsmd__evin_field(e, "MESSAGE_ID");
    if (m && m->vlen == 32) {
        unsigned id = 0;
        for (int i = 0; i < 4; i++) {
            int h = hexval(m->val[i]);
            if (h < 0)
                return 0;
            id = id * 16 + (unsigned)h;
        }
        return id;
    }
    return 0;
}

/* The channel map (evsrc.md has the table and the reasons). */
static enum wsmd_evchan chan_of(const struct wsmd_evin *e)
{
    const struct wsmd_evfield *transport = wsmd__evin_field(e, "_TRANSPORT");
    long long facility = num(wsmd__evin_field(e, "SYSLOG_FACILITY"));
    const struct wsmd_evfield *ident = wsmd__evin_field(e, "SYSLOG_IDENTIFIER");

    /* The kernel's audit records are security records. */
    if (is(transport, "audit"))
        return WSMD_EVCHAN_SECURITY;
    /* auth (4) and authpriv (10): sshd, sudo, su, login, PAM modules. */
    if (facility == 4 || facility == 10)
        return WSMD_EVCHAN_SECURITY;
    /* wsmd's own authentication lines (event=auth-failure, ...): wsmd
     * logs to stderr, which the journal keeps as facility daemon. */
    if (is(ident, "wsmd") && e->message && e->message_len >= 10 &&
        memcmp(e->message, "event=auth", 10) == 0)
        return WSMD_EVCHAN_SECURITY;
    /* The kernel, journald's own lines, facility kern (0) and syslog (5). */
    if (is(transport, "kernel") || is(transport, "driver") || facility == 0 || facility == 5)
        return WSMD_EVCHAN_SYSTEM;
    /* systemd itself (pid 1: unit lifecycle, "Started ...") and its
     * daemons (systemd-logind, systemd-networkd, ...). The _PID the journal
     * recorded is trusted; an identifier is what the writer chose, so only
     * the trusted _COMM confirms a systemd daemon. */
    if (e->pid == 1)
        return WSMD_EVCHAN_SYSTEM;
    if (starts(ident, "systemd") && starts(wsmd__evin_field(e, "_COMM"), "systemd") &&
        num(wsmd__evin_field(e, "_UID")) == 0)
        return WSMD_EVCHAN_SYSTEM;
    /* Everything else programs wrote: user, daemon, local0..7, mail, ... */
    return WSMD_EVCHAN_APPLICATION;
}

void wsmd__evin_derive(struct wsmd_evin *e)
{
    const struct wsmd_evfield *f;
    e->provider = NULL;
    e->provider_len = 0;
    static const char *const provider_fields[] = {"SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "_COMM"};
    for (size_t i = 0; i < sizeof(provider_fields) / sizeof(provider_fields[0]); i++) {
        f = wsmd__evin_field(e, provider_fields[i]);
        if (f && f->vlen) {
            e->provider = f->val;
            e->provider_len = f->vlen;
            break;
        }
    }
    if (!e->provider) {
        e->provider = "journal";
        e->provider_len = 7;
    }
    f = wsmd__evin_field(e, "_SYSTEMD_UNIT");
    e->unit = f && f->vlen && f->vlen <= WSMD_EVUNIT_MAX ? f->val : NULL;
    e->unit_len = e->unit ? f->vlen : 0;
    f = wsmd__evin_field(e, "MESSAGE");
    e->message = f ? f->val : NULL;
    e->message_len = f ? f->vlen : 0;
    f = wsmd__evin_field(e, "_HOSTNAME");
    e->hostname = f && f->vlen ? f->val : NULL;
    e->hostname_len = e->hostname ? f->vlen : 0;
    e->level = level_of(wsmd__evin_field(e, "PRIORITY"));
    e->eventid = eventid_of(e);
    e->pid = num(wsmd__evin_field(e, "_PID"));
    e->tid = num(wsmd__evin_field(e, "_TID"));
    if (e->tid < 0)
        e->tid = num(wsmd__evin_field(e, "TID"));
    e->uid = num(wsmd__evin_field(e, "_UID"));
    e->chan = chan_of(e);
}
