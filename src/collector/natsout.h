/* The collector's NATS JetStream output (natsout.c; docs/internals/collector.md):
 *
 *   NatsOutput = nats://HOST:PORT [subject=TEMPLATE] [stream=NAME] [window=SECONDS]
 *                [timeout=MS]
 *
 * One message per event (the JSON object of the JSON Lines output), on a
 * subject made from TEMPLATE (default wsmd.events.{subscription}.{channel}),
 * published with JetStream's acknowledgement before the source's Ack, with
 * a Nats-Msg-Id so that the stream drops a resend inside its duplicate
 * window. */
#ifndef WSMD_NATSOUT_H
#define WSMD_NATSOUT_H

#include <stddef.h>

#include "wsm/wsm.h"
#include "events.h"

struct wsmd_nats;

/* 1 when spec is a valid NatsOutput value. */
int wsmd__nats_spec_ok(const char *spec);
/* Parses spec and starts connecting (in the background: a server that is
 * away is no error here, it is connected to when it comes). */
enum wsm_err wsmd__nats_open(const char *spec, struct wsmd_nats **out);
void wsmd__nats_close(struct wsmd_nats *n);
/* Publishes event i with the JSON json[off[i] .. off[i+1]-1) (the JSON Lines
 * buffer: its newline is left out). WSM_OK only when JetStream acknowledged
 * every message; anything else (no server, no stream, a timeout) is
 * WSM_ERR_IO and the batch is not acked to the source. */
enum wsm_err wsmd__nats_publish(struct wsmd_nats *nt, const struct wsmd_event *ev, size_t n,
                                const struct wsmd_event_meta *m, const char *json,
                                const size_t *off);

/* The subject of one event: tmpl with {subscription} and {channel} put in,
 * each value's bytes that a subject token cannot hold ('.', '*', '>',
 * space, control and non-ASCII bytes) as '_', an empty value as '_'. */
enum wsm_err wsmd__nats_subject(const char *tmpl, const char *subscription, const char *channel,
                                char *out, size_t n);
/* The Nats-Msg-Id of one event: SUBSCRIPTION/COMPUTER/CHANNEL/RECORDID when
 * the event has the three, else SUBSCRIPTION/x/HASH of its XML (FNV-1a,
 * 64 bits); an id longer than 200 bytes becomes SUBSCRIPTION-less h/HASH of
 * itself. The same event resent gets the same id. */
void wsmd__nats_msg_id(const struct wsmd_event *ev, const char *subscription, char *out, size_t n);

#endif
