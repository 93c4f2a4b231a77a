/* libwsm: the WS-Management client library under winrm and winrs.
 *
 * This is the only public header. Everything it declares is stable; names
 * are prefixed wsm_ / WSM_. Handles are opaque and owned by the caller.
 */
#ifndef WSM_WSM_H
#define WSM_WSM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSM_VERSION "0.1.0"

/* One error enum for the whole library. Numbers are never reused. */
enum wsm_err {
    WSM_OK = 0,
    WSM_ERR_NOMEM = 1,
    WSM_ERR_INVALID_ARG = 2,
    WSM_ERR_IO = 3,
    WSM_ERR_XML_MALFORMED = 4,      /* not well-formed XML */
    WSM_ERR_XML_DTD = 5,            /* a DOCTYPE / entity declaration */
    WSM_ERR_XML_DEPTH = 6,          /* nesting deeper than the cap */
    WSM_ERR_ENVELOPE_TOO_LARGE = 7, /* above MaxEnvelopeSize */
    WSM_ERR_NOT_SOAP = 8,           /* root is not a SOAP 1.2 Envelope */
    WSM_ERR_SOAP_VERSION = 9,       /* SOAP 1.1 or unknown envelope ns */
    WSM_ERR_BAD_HEADER = 10,        /* invalid WS-Addressing header */
    WSM_ERR_HEADER_REQUIRED = 11,   /* a required header is missing */
    WSM_ERR_MUST_UNDERSTAND = 12,   /* mustUnderstand header we do not know */
    WSM_ERR_ACTION_NOT_SUPPORTED = 13,
    WSM_ERR_DESTINATION_UNREACHABLE = 14,
    WSM_ERR_ACCESS_DENIED = 15,
    WSM_ERR_INVALID_SELECTORS = 16,
    WSM_ERR_TIMED_OUT = 17,
    WSM_ERR_INTERNAL = 18,
    WSM_ERR_UNSUPPORTED_MEDIA = 19,
    WSM_ERR_INVALID_TIMEOUT = 20,
    WSM_ERR_ENCODING = 21, /* bad base64 or character encoding */
    WSM_ERR_NOT_FOUND = 22,
    WSM_ERR_INVALID_OPTIONS = 23,
    WSM_ERR_QUOTA = 24,
    WSM_ERR_UNSUPPORTED_FEATURE = 25,
    WSM_ERR_AUTH = 26,                   /* client: the server refused credentials */
    WSM_ERR_HTTP = 27,                   /* client: transport or HTTP error */
    WSM_ERR_FAULT = 28,                  /* client: the server answered a fault */
    WSM_ERR_SHELL_NOT_FOUND = 29,        /* no such shell (or not the caller's) */
    WSM_ERR_QUOTA_SHELLS = 30,           /* MaxShellsPerUser reached */
    WSM_ERR_QUOTA_PROCESSES = 31,        /* MaxProcessesPerShell reached */
    WSM_ERR_INVALID_ENUM_CONTEXT = 32,   /* unknown, expired or not the caller's */
    WSM_ERR_FILTER_DIALECT = 33,         /* filter dialect not supported */
    WSM_ERR_CANNOT_PROCESS_FILTER = 34,  /* bad filter (a WQL syntax error...) */
    WSM_ERR_INVALID_REPRESENTATION = 35, /* Put/Create body does not fit the class */
    WSM_ERR_FRAGMENT = 36,               /* bad fragment expression */
    WSM_ERR__COUNT
};

/* A short English description; never NULL. */
const char *wsm_strerror(enum wsm_err err);

/* ---- client -------------------------------------------------------- */

/* A session to one endpoint (the counterpart of WinRM's IWSManSession). */
typedef struct wsm_session wsm_session;

enum wsm_auth {
    WSM_AUTH_BASIC = 0,
    WSM_AUTH_NONE = 1, /* only for anonymous Identify */
};

struct wsm_session_opts {
    const char *url;      /* http://host:5985/wsman; "/wsman" is added if no path */
    const char *user;     /* may be NULL with WSM_AUTH_NONE */
    const char *password; /* may be NULL with WSM_AUTH_NONE */
    enum wsm_auth auth;
    long timeout_ms; /* 0: 60000 */
};

enum wsm_err wsm_session_new(const struct wsm_session_opts *opts, wsm_session **out);
void wsm_session_free(wsm_session *s);

/* The last fault or transport error, as text; valid until the next call. */
const char *wsm_session_error(const wsm_session *s);
/* The Windows code of the last fault (WSManFault/@Code), or 0. */
unsigned long wsm_session_fault_code(const wsm_session *s);

struct wsm_identity {
    char *protocol_version;
    char *product_vendor;
    char *product_version;
};

/* Identify; anonymous when the session's auth is WSM_AUTH_NONE. The raw
 * response envelope is returned in *xml if xml is non-NULL (free()). */
enum wsm_err wsm_identify(wsm_session *s, struct wsm_identity *out, char **xml);
void wsm_identity_clear(struct wsm_identity *id);

/* ---- remote shell (WinRS) ------------------------------------------ */

/* Session settings by name:
 *   "MaxEnvelopeSize"  bytes (w:MaxEnvelopeSize sent; default 512000)
 *   "OperationTimeout" milliseconds (w:OperationTimeout; default 60000)
 *   "SkipCACheck", "SkipCNCheck"  nonzero: do not verify the HTTPS
 *                      certificate chain / host name (winrs -skipCAcheck)
 * WSM_ERR_INVALID_ARG for an unknown name or a value out of range. */
enum wsm_err wsm_session_set(wsm_session *s, const char *name, long value);

/* A shell of the resource http://schemas.microsoft.com/wbem/wsman/1/
 * windows/shell/cmd. A handle uses its session's connection: like the
 * session, it is for one thread at a time. */
typedef struct wsm_shell wsm_shell;

struct wsm_shell_opts {
    const char *workdir;    /* NULL: the service's default */
    const char *const *env; /* "NAME=value" strings, NULL-terminated; may be NULL */
    int noprofile;          /* WINRS_NOPROFILE */
    long idle_timeout_ms;   /* <= 0: the service's default */
    const char *codepage;   /* WINRS_CODEPAGE; NULL: "437" as Windows */
};

/* Transfer Create. o may be NULL for the defaults. */
enum wsm_err wsm_shell_create(wsm_session *s, const struct wsm_shell_opts *o, wsm_shell **out);
/* A handle for an existing shell over another session (for instance a
 * second thread's); free it with wsm_shell_free, which does not delete. */
enum wsm_err wsm_shell_open(wsm_session *s, const char *shell_id, wsm_shell **out);
void wsm_shell_free(wsm_shell *sh);
const char *wsm_shell_id(const wsm_shell *sh);

/* Starts a command; args (NULL-terminated, may be NULL) go out as
 * rsp:Arguments. *command_id is malloc'd. */
enum wsm_err wsm_shell_run(wsm_shell *sh, const char *command, const char *const *args,
                           char **command_id);
/* Sends stdin bytes; end closes the command's stdin after them. */
enum wsm_err wsm_shell_send(wsm_shell *sh, const char *command_id, const void *data, size_t len,
                            int end);

struct wsm_receive {
    void (*on_stdout)(void *ud, const void *p, size_t n); /* may be NULL */
    void (*on_stderr)(void *ud, const void *p, size_t n); /* may be NULL */
    void *ud;
    int done;      /* out: the command has finished */
    int exit_code; /* out: valid when done */
};

/* One Receive round trip: the output it carries goes to the callbacks in
 * order. A w:TimedOut fault (code 2150858793: no output within the
 * OperationTimeout) is not an error: WSM_OK with done = 0 and no data. */
enum wsm_err wsm_shell_receive(wsm_shell *sh, const char *command_id, struct wsm_receive *r);

/* signal: "terminate", "ctrl_c", "ctrl_break" or a full URI. */
enum wsm_err wsm_shell_signal(wsm_shell *sh, const char *command_id, const char *signal);

/* Transfer Delete, then frees sh (always, even when Delete fails). */
enum wsm_err wsm_shell_delete(wsm_shell *sh);

#ifdef __cplusplus
}
#endif
#endif
