/* The collector's outputs: JSON Lines and raw XML files under EventLogDir,
 * and syslog (RFC 5424). Durable on return. See
 * docs/internals/collector-store.md. */
#ifndef WSMD_OUTPUT_H
#define WSMD_OUTPUT_H

#include <stddef.h>

#include "wsm/wsm.h"
#include "buf.h"
#include "events.h"

/* WSMD_OUT_* belong to the subscriptions slice (subscription.h); the same
 * values here only while that file is not in the tree. */
#if __has_include("subscription.h")
#include "subscription.h"
#else
enum { WSMD_OUT_JSONL = 1, WSMD_OUT_XML = 2, WSMD_OUT_SYSLOG = 4 };
#endif

struct wsmd_outputs;
struct wsmd_output_cfg {
    const char
        *event_log_dir; /* EventLogDir: JSON Lines DIR/<LogFile>.jsonl, raw XML DIR/<LogFile>.xml */
    const char *syslog_target; /* SyslogTarget: "unix:/path", "udp://host:port", "tcp://host:port",
                                  or NULL */
    const char *syslog_app;    /* APP-NAME, default "wsmd" */
    const char *nats_output;   /* NatsOutput (natsout.h), or NULL: every batch goes there too */
};
/* Fails on a malformed syslog_target; an unreachable one is only logged (connected again at
 * each batch). Sets SIGXFSZ to ignored, so that a file size limit is an error, not death. */
enum wsm_err wsmd__outputs_open(const struct wsmd_output_cfg *cfg, struct wsmd_outputs **out);
void wsmd__outputs_close(struct wsmd_outputs *o);
/* Writes the batch to each output in `outputs` (WSMD_OUT_*) for log_file; durable when it
 * returns WSM_OK (fdatasync'd files; TCP syslog written to the socket; UDP/unix sent, which is
 * best effort). Batches from many threads at once share fdatasync calls (group commit). A
 * failed append leaves the file as it was before the batch (truncated back). An invalid
 * log_file (wsmd__output_name_ok) is WSM_ERR_INVALID_ARG, before anything is written. */
enum wsm_err wsmd__outputs_write(struct wsmd_outputs *o, unsigned outputs, const char *log_file,
                                 const struct wsmd_event *ev, size_t n,
                                 const struct wsmd_event_meta *m);
/* SIGHUP: close and reopen every file (logrotate), and the syslog connection. Call it from a
 * thread, not from the signal handler; writes in flight finish on the old files first. */
void wsmd__outputs_reopen(struct wsmd_outputs *o);

/* 1 if name may be a LogFile: 1..128 of [A-Za-z0-9._@+-] and space, not starting with '.'
 * or a space, not ending with a space, no "..". It comes from a subscription file and
 * becomes a file name. */
int wsmd__output_name_ok(const char *name);

/* Appends ev's XML as one line (no newline at the end): the newlines the XML holds become
 * character references in text, "]]>&#10;<![CDATA[" in CDATA, spaces in markup; what a parser
 * reads is unchanged (see the doc). */
enum wsm_err wsmd__output_xml_line(struct wsm_buf *out, const char *xml, size_t len);

/* ---- syslog (syslog.c) ---- */
struct wsmd_syslog;
/* target: "unix:/path", "udp://host:port", "tcp://host:port" (host may be [v6]). */
enum wsm_err wsmd__syslog_open(const char *target, const char *app, struct wsmd_syslog **out);
void wsmd__syslog_close(struct wsmd_syslog *s);
/* Drops the connection; the next send connects again. */
void wsmd__syslog_reset(struct wsmd_syslog *s);
/* One RFC 5424 message (no framing, no newline) for ev, with MSG = msg[0..msg_len). */
enum wsm_err wsmd__syslog_format(struct wsm_buf *out, const char *app, const struct wsmd_event *ev,
                                 const struct wsmd_event_meta *m, const char *msg, size_t msg_len);
/* Sends n events, event i with MSG = its JSON line without the newline: json + off[i] up to
 * json + off[i + 1] - 1 (off has n + 1 entries; the JSON Lines buffer of the batch).
 * TCP: octet-counting frames (RFC 6587), all of them written or an error; a broken connection
 * is made again once per batch. */
enum wsm_err wsmd__syslog_send(struct wsmd_syslog *s, const struct wsmd_event *ev, size_t n,
                               const struct wsmd_event_meta *m, const char *json,
                               const size_t *off);

#endif
