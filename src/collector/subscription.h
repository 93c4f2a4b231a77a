/* Event subscriptions of the Windows Event Forwarding collector.
 *
 * A subscription file is the XML that Windows `wecutil gs NAME /f:xml` prints
 * and `wecutil cs FILE` reads, plus wsmd's own elements in the namespace
 * urn:wsmd:subscription (see docs/internals/subscriptions.md). This module
 * reads them, says which principal may use which, derives the Version GUID
 * and writes the Subscribe envelope a source gets in the Enumerate response.
 */
#ifndef WSMD_SUBSCRIPTION_H
#define WSMD_SUBSCRIPTION_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

#define WSMD_NS_SUBFILE "http://schemas.microsoft.com/2006/03/windows/events/subscription"
#define WSMD_NS_SUBEXT "urn:wsmd:subscription"
#define WSMD_URI_EVENTLOG "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"

/* One EventSource of a CollectorInitiated subscription (subsrc.c). */
struct wsmd_sub_source {
    char *address;  /* Address: host, [v6], host:port or an http(s):// URL */
    int enabled;    /* Enabled attribute, default true */
    char *user;     /* UserName, NULL: the file's CommonUserName */
    char *password; /* Password, NULL: the file's CommonPassword; never written back */
};

struct wsmd_sub {
    char *id;   /* SubscriptionId */
    char *file; /* path it came from (NULL from wsmd__sub_parse) */
    char *description;
    int enabled;
    char *uri;            /* Uri */
    char *query;          /* the QueryList text (from CDATA), trimmed */
    char *content_format; /* "Events" (Raw) | "RenderedText" */
    int read_existing;    /* ReadExistingEvents */
    char *log_file;       /* LogFile; default "ForwardedEvents" */
    char *locale;         /* Locale Language, may be NULL */
    char *config_mode;    /* ConfigurationMode: Normal | MinBandwidth | MinLatency | Custom */
    unsigned max_items;   /* Delivery/Batching/MaxItems (from the mode when not Custom);
                             0: none (no MaxElements is sent) */
    long max_latency_ms;  /* Delivery/Batching/MaxLatencyTime */
    long heartbeat_ms;    /* Delivery/PushSettings/Heartbeat Interval */
    char *transport;      /* TransportName: HTTP | HTTPS */
    char **allow;
    size_t nallow;
    char **deny;
    size_t ndeny;
    unsigned outputs; /* WSMD_OUT_JSONL | WSMD_OUT_XML | WSMD_OUT_SYSLOG */
    char version[37]; /* GUID text, derived (hash) from every client-visible parameter:
                         same parameters -> same Version, across restarts and nodes */

    /* Kept for the round trip (wsmd__sub_write_xml) and for reporting;
     * additions to the interface of collector.md. */
    int source_initiated;    /* SubscriptionType: 1 SourceInitiated (served), 0 CollectorInitiated
                                (loaded, never served: wsmd does not dial sources) */
    char *delivery_mode;     /* Delivery Mode: "Push" (source-initiated needs it) or "Pull" */
    unsigned transport_port; /* TransportPort, 0: absent */
    char *expires;           /* Expires (text), may be NULL; not enforced */
    char *publisher_name;    /* PublisherName, may be NULL */
    char *domain_sddl;       /* AllowedSourceDomainComputers (SDDL text, not enforced) */
    char *issuer_cas;        /* AllowedSourceNonDomainComputers/AllowedIssuerCAList/IssuerCA:
                                thumbprints, space-separated, may be NULL */
    char *allowed_subjects;  /* .../AllowedSubjectList/Subject, space-separated, not enforced */
    char *denied_subjects;   /* .../DeniedSubjectList/Subject, space-separated, not enforced */
    char *query_xml;         /* the QueryList re-serialized (what w:Filter carries) */
    size_t nchannels;        /* distinct channels (Select/Suppress Path) of the query */

    /* CollectorInitiated (subsrc.c): the sources the collector dials (dialer.c). */
    struct wsmd_sub_source *sources;
    size_t nsources;
    int have_sources;       /* an EventSources element was there (written back) */
    char *common_user;      /* CommonUserName, may be NULL */
    char *common_password;  /* CommonPassword, may be NULL; never written back */
    char *credentials_type; /* CredentialsType: Default|Negotiate|Basic|Digest|Local, or NULL */
};

enum { WSMD_OUT_JSONL = 1, WSMD_OUT_XML = 2, WSMD_OUT_SYSLOG = 4 };

/* Windows refuses a query naming more channels than this. */
#define WSMD_SUB_MAX_CHANNELS 256
/* Subscription files larger than this are refused. */
#define WSMD_SUB_MAX_FILE (4u * 1024 * 1024)

/* Parse one file's text (UTF-8, or UTF-16 with a BOM); *err gets a one-line
 * reason on failure. */
enum wsm_err wsmd__sub_parse(const char *xml, size_t len, struct wsmd_sub **out, char *err,
                             size_t errlen);
void wsmd__sub_free(struct wsmd_sub *s);
/* Load every *.xml of dir (sorted); a bad file is skipped with a log line, the rest load.
 * A second file with an already loaded SubscriptionId is skipped the same way. */
enum wsm_err wsmd__sub_load_dir(const char *dir, struct wsmd_sub ***out, size_t *n);
void wsmd__sub_free_all(struct wsmd_sub **v, size_t n);
/* 1 if principal may use s (allow/deny globs, case-insensitive, deny wins). */
int wsmd__sub_allows(const struct wsmd_sub *s, const char *principal);
/* 1 if s has a password (CommonPassword or an EventSource's): its file
 * must not be readable by others (subload.c refuses it). */
int wsmd__sub_has_password(const struct wsmd_sub *s);
/* 1 if s is handed out to sources at all: enabled and SourceInitiated. */
int wsmd__sub_served(const struct wsmd_sub *s);
/* The file format back (wecutil gs /f:xml; also what wecutil cs/ss read). */
enum wsm_err wsmd__sub_write_xml(struct wsm_buf *out, const struct wsmd_sub *s);

struct wsmd_sub_ctx {
    const char *notify_base;  /* "http://collector.example.com:5985" (no path) */
    const char *bookmark_xml; /* the stored BookmarkList, or NULL */
    const char
        *issuer_thumbprints; /* HTTPS: SHA-1 hex of the client CA(s), space-separated, or NULL */
    const char *machine_id;  /* the source's MachineID header, may be NULL */
};
/* The complete s:Envelope of the Subscribe a source gets in the Enumerate response
 * (see docs/internals/subscriptions.md for every element). NotifyTo and EndTo =
 * notify_base + "/wsman/subscriptions/" + the SubscriptionId percent-encoded;
 * ReferenceProperties/Identifier = the Version GUID, as a Windows collector does. */
enum wsm_err wsmd__sub_write_subscribe(struct wsm_buf *out, const struct wsmd_sub *s,
                                       const struct wsmd_sub_ctx *ctx);

/* Appends the SubscriptionId as it appears in the NotifyTo path (RFC 3986
 * unreserved characters kept, every other byte %XX). */
enum wsm_err wsmd__sub_path_id(struct wsm_buf *out, const char *id);

#endif
