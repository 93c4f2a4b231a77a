/* Windows Event Forwarding deliveries: cleaning a body before the SOAP parse,
 * the events of a w:Events batch, one JSON object per event, and whether an
 * event's Computer names the machine that authenticated.
 * docs/internals/events.md says why these steps run in this order. */
#ifndef WSMD_EVENTS_H
#define WSMD_EVENTS_H

#include <libxml/tree.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "wsm/wsm.h"

/* The Windows event schema (the root of every event). */
#define WSMD_NS_EVENT "http://schemas.microsoft.com/win/2004/08/events/event"

/* Nesting allowed inside one event (Windows' own are 5 or 6 deep). */
#define WSMD_EVENT_MAX_DEPTH 64
/* Attributes allowed on one element of an event (Windows writes at most 3). */
#define WSMD_EVENT_MAX_ATTRS 64
/* An event longer than this is kept as text, not parsed (well_formed = 0);
 * Windows' own are a few KB, the envelope that carries them 512 KB. */
#define WSMD_EVENT_MAX_SIZE (4u << 20)

/* A delivery body as received (after decryption and decompression) -> clean UTF-8 in out:
 * BOM / UTF-16LE / UTF-16BE / UTF-8 detected (and the XML declaration's encoding rewritten or
 * removed so libxml2 reads UTF-8); characters not allowed in XML 1.0 and invalid UTF-8 replaced
 * by a documented escape, counted in *nfixed. Never fails on content; WSM_ERR_QUOTA past max_out.
 * The escape: a code point C that XML 1.0 forbids becomes the six characters \uXXXX (upper-case
 * hex, more digits past U+FFFF), a byte that is not UTF-8 becomes \xHH; a character reference
 * (&#5; &#x5;) to a forbidden code point becomes \uXXXX too. out is appended to. */
enum wsm_err wsmd__events_prepare(const void *in, size_t len, struct wsm_buf *out, size_t max_out,
                                  size_t *nfixed);

struct wsmd_event {
    const char *xml; /* the event XML as sent (after prepare), NUL-terminated */
    size_t xml_len;
    int well_formed; /* 0: kept as text, fields below NULL/-1 */
    const char *computer, *channel, *provider, *time_created, *level, *task, *opcode, *keywords;
    long long event_id, record_id; /* -1: absent */
    const char *rendered_message;  /* RenderingInfo/Message, NULL if absent */
    long long qualifiers;          /* EventID's Qualifiers attribute; -1: absent (JSON has
                                      it only when > 0, so a zeroed struct has none) */
};
/* The events of a w:Events element (each w:Event's text/CDATA is one event), strings in arena a.
 * A malformed event is kept with well_formed = 0, never drops the rest. More than max_events
 * w:Event elements: WSM_ERR_QUOTA and nothing returned (never a silently shortened batch).
 * events may be NULL (a heartbeat): no events. */
enum wsm_err wsmd__events_parse(const xmlNode *events, struct wsm_arena *a, size_t max_events,
                                struct wsmd_event **out, size_t *n);

/* Frees the calling thread's event parser context (threads that end free
 * theirs; the main thread calls it before exit, next to
 * wsm__envelope_thread_cleanup). */
void wsmd__events_thread_cleanup(void);

struct wsmd_event_meta {
    const char *subscription; /* SubscriptionId */
    const char *client;       /* the principal */
    const char *source_addr;  /* the peer (or PROXY) address */
    const char *received;     /* RFC 3339 UTC with ms, e.g. 2026-12-07T06:45:01.123Z */
};
/* One JSON object, no newline: Xml, Computer, Channel, EventID, (Qualifiers when > 0),
 * EventRecordID, TimeCreated, Provider, Level, Task, Opcode, Keywords, Message (when present),
 * Subscription, Client, SourceAddress, Received, ComputerMismatch, WellFormed. Valid JSON
 * (RFC 8259) whatever the event holds. Appends to out. */
enum wsm_err wsmd__event_json(struct wsm_buf *out, const struct wsmd_event *ev,
                              const struct wsmd_event_meta *m);
/* Appends s as a JSON string (quotes included); bytes that are not UTF-8 become \ufffd. */
enum wsm_err wsmd__json_str(struct wsm_buf *out, const char *s, size_t len);

/* 1 when the event's Computer (FQDN or short name) names the principal's machine:
 * "WS1.example.com" vs "WS1$@EXAMPLE.COM" (Kerberos machine principal), vs "ws1.example.com"
 * (certificate CN), vs "EXAMPLE\WS1$" (NTLM/Basic), case-insensitive; 0 otherwise (also when
 * computer or principal is NULL). */
int wsmd__event_computer_matches(const char *computer, const char *principal);

#endif
