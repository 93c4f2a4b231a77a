/* The collector's Prometheus metrics (text exposition format 0.0.4),
 * served at GET /metrics on the MetricsListen listener. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "collector_priv.h"
#include "control.h"

struct by_state {
    const struct col_subs *subs;
    long long now;
    unsigned long long active, alive, dead, ended;
    unsigned long long stored_events; /* from the state: every node's, when shared */
};

static void count_row(const struct wsmd_source_row *r, void *arg)
{
    struct by_state *b = arg;
    const struct wsmd_sub *s = wsmd__col_sub_find(b->subs, r->sub, strlen(r->sub));
    const char *st = wsmd__col_source_status(r, s ? s->heartbeat_ms : 0, b->now);
    b->stored_events += r->events;
    if (!strcmp(st, "Active"))
        b->active++;
    else if (!strcmp(st, "Alive"))
        b->alive++;
    else if (!strcmp(st, "Ended"))
        b->ended++;
    else
        b->dead++;
}

#define COUNTER(name, help, field)                                                                 \
    wsm__buf_printf(out, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %llu\n",     \
                    (unsigned long long)atomic_load(&m->field))

enum wsm_err wsmd__collector_metrics(struct wsmd_collector *col, struct wsm_buf *out)
{
    struct col_metrics *m = &col->m;
    COUNTER("wsmd_collector_events_total", "Events written to the outputs and acknowledged.",
            events);
    COUNTER("wsmd_collector_event_bytes_total", "Bytes of event XML acknowledged.", bytes);
    COUNTER("wsmd_collector_batches_total", "Events messages acknowledged.", batches);
    COUNTER("wsmd_collector_heartbeats_total", "Heartbeats acknowledged.", heartbeats);
    COUNTER("wsmd_collector_acks_total", "Acks sent.", acks);
    COUNTER("wsmd_collector_subscription_ends_total", "SubscriptionEnd messages received.", ends);
    COUNTER("wsmd_collector_enumerations_total", "Subscription manager enumerations answered.",
            enumerations);
    COUNTER("wsmd_collector_decode_failures_total",
            "Bodies that could not be decoded (SLDC, encoding, not w:Events).", decode_failures);
    COUNTER("wsmd_collector_output_failures_total", "Batches an output could not write.",
            output_failures);
    COUNTER("wsmd_collector_state_failures_total", "State database reads or writes that failed.",
            state_failures);
    COUNTER("wsmd_collector_refused_total",
            "Deliveries refused (unknown or disabled subscription, principal not allowed).",
            refused);
    COUNTER("wsmd_collector_malformed_events_total",
            "Events kept as text because they were not well-formed XML.", malformed_events);
    COUNTER("wsmd_collector_escaped_characters_total",
            "Characters XML forbids, escaped in received bodies.", escaped_chars);
    COUNTER("wsmd_collector_computer_mismatch_total",
            "Events whose Computer does not name the authenticated principal.", mismatches);

    wsm__buf_puts(out, "# HELP wsmd_collector_request_seconds Time to answer a delivery "
                       "(outputs and state durable).\n"
                       "# TYPE wsmd_collector_request_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i < COL_LAT_BUCKETS; i++) {
        cum += atomic_load(&m->lat_bucket[i]);
        wsm__buf_printf(out, "wsmd_collector_request_seconds_bucket{le=\"%g\"} %llu\n",
                        wsmd__col_lat_le[i], cum);
    }
    wsm__buf_printf(out,
                    "wsmd_collector_request_seconds_bucket{le=\"+Inf\"} %llu\n"
                    "wsmd_collector_request_seconds_sum %.6f\n"
                    "wsmd_collector_request_seconds_count %llu\n",
                    (unsigned long long)atomic_load(&m->lat_count),
                    (double)atomic_load(&m->lat_sum_us) / 1e6,
                    (unsigned long long)atomic_load(&m->lat_count));

    struct col_subs *subs = wsmd__col_subs_get(col);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct by_state b = {.subs = subs, .now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    enum wsm_err e = wsmd__state_sources(col->state, NULL, count_row, &b);
    size_t enabled = 0;
    for (size_t i = 0; i < subs->n; i++)
        enabled += subs->v[i]->enabled != 0;
    wsm__buf_printf(out,
                    "# HELP wsmd_collector_subscriptions Subscriptions loaded.\n"
                    "# TYPE wsmd_collector_subscriptions gauge\n"
                    "wsmd_collector_subscriptions{enabled=\"true\"} %zu\n"
                    "wsmd_collector_subscriptions{enabled=\"false\"} %zu\n",
                    enabled, subs->n - enabled);
    wsmd__col_subs_put(subs);
    if (e == WSM_OK)
        wsm__buf_printf(out,
                        "# HELP wsmd_collector_sources Sources by state (wecutil gr).\n"
                        "# TYPE wsmd_collector_sources gauge\n"
                        "wsmd_collector_sources{state=\"active\"} %llu\n"
                        "wsmd_collector_sources{state=\"alive\"} %llu\n"
                        "wsmd_collector_sources{state=\"dead\"} %llu\n"
                        "wsmd_collector_sources{state=\"ended\"} %llu\n"
                        "# HELP wsmd_collector_stored_events Events of every source as the state "
                        "counts them (all nodes' with a shared StateDatabase).\n"
                        "# TYPE wsmd_collector_stored_events gauge\n"
                        "wsmd_collector_stored_events %llu\n",
                        b.active, b.alive, b.dead, b.ended, b.stored_events);
    return WSM_OK;
}
