/* CollectorInitiated subscriptions (dialer.c): the collector subscribes to
 * each event source of such a subscription and pulls its events into the
 * same outputs and state as the deliveries of source-initiated ones.
 * docs/internals/subscriptions.md, "CollectorInitiated". */
#ifndef WSMD_COL_DIALER_H
#define WSMD_COL_DIALER_H

#include "collector_priv.h"

struct wsmd_dialers;

enum wsm_err wsmd__dialers_new(struct wsmd_collector *col, struct wsmd_dialers **out);
/* After every load of the subscription files: a dialer per enabled source of
 * each enabled CollectorInitiated subscription of subs. One whose source is
 * gone, disabled, or changed is stopped (Unsubscribe) and, when changed,
 * started again (it resumes from the stored bookmark); the others go on. */
void wsmd__dialers_sync(struct wsmd_dialers *d, struct col_subs *subs);
/* Stops every dialer (each Unsubscribes), then frees. NULL: no-op. */
void wsmd__dialers_free(struct wsmd_dialers *d);

/* Windows' runtime status of one source (EC_SUBSCRIPTION_RUNTIME_STATUS_
 * ACTIVE_STATUS): "Active", "Trying", "Inactive" or "Disabled", and the last
 * error ("0": none). */
struct wsmd_dial_status {
    char status[16];
    char last_error[256];
    char url[300];
    unsigned failures;
    long long next_try_ms; /* wall clock of the next attempt, 0: none waiting */
};
/* 1 and *st for a running dialer of (sub, address); 0: none. */
int wsmd__dialers_status(struct wsmd_dialers *d, const char *sub, const char *address,
                         struct wsmd_dial_status *st);

/* The URL to dial for an Address (exposed for the unit test):
 * "http(s)://host:port/wsman" from the subscription's TransportName and
 * TransportPort (default 5985 / 5986), or the Address itself when it is a
 * URL. -1 when it does not fit n. */
int wsmd__dial_url(const char *address, const char *transport, unsigned port, char *out, size_t n);

#endif
