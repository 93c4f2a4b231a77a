/* libwsm: the WS-Management client library under winrm and winrs.
 *
 * The public header (with wsm/data.h, which it includes).
 * Everything it declares is stable; names are prefixed wsm_ / WSM_.
 * Handles are opaque and owned by the caller.
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
    WSM_ERR_XML_ATTRIBUTES = 37,         /* an element with more attributes than the cap */
    WSM_ERR_ALREADY_EXISTS = 38,         /* Create of a resource that exists (w:AlreadyExists) */
    /* WS-Eventing (the event source, src/daemon/evsub.c). */
    WSM_ERR_DELIVERY_MODE = 39,         /* wse:DeliveryModeRequestedUnavailable */
    WSM_ERR_INVALID_EXPIRATION = 40,    /* wse:InvalidExpirationTime */
    WSM_ERR_FILTERING_UNAVAILABLE = 41, /* wse:FilteringRequestedUnavailable (dialect) */
    WSM_ERR_UNABLE_TO_RENEW = 42,       /* wse:UnableToRenew */
    WSM_ERR_INVALID_SUBSCRIPTION = 43,  /* unknown, expired or not the caller's subscription */
    WSM_ERR_INVALID_BOOKMARK = 44,      /* w:InvalidBookmark */
    WSM_ERR_INVALID_STREAM = 45,        /* a shell stream name other than stdin/stdout/stderr */
    WSM_ERR_QUOTA_USERS = 46,           /* Winrs MaxConcurrentUsers reached */
    WSM_ERR_QUOTA_COMMANDS = 47,        /* MaxConcurrentCommandsPerShell reached */
    WSM_ERR_QUOTA_OPERATIONS = 48,      /* MaxConcurrentOperationsPerUser reached */
    WSM_ERR__COUNT
};

/* A short English description; never NULL. */
const char *wsm_strerror(enum wsm_err err);

/* ---- client -------------------------------------------------------- */

/* A session to one endpoint (the counterpart of WinRM's IWSManSession). */
typedef struct wsm_session wsm_session;

/* How a session authenticates (winrm/winrs -a:). Basic is the default
 * (the zero value); Windows' winrm defaults to Negotiate. */
enum wsm_auth {
    WSM_AUTH_BASIC = 0,
    WSM_AUTH_NONE = 1, /* only for anonymous Identify */
    /* HTTP Negotiate through GSSAPI (libgssapi_krb5, loaded at the first
     * request; NTLM needs the gss-ntlmssp mechanism), target "HTTP@host".
     * The security context belongs to the TCP connection; a lost
     * connection is authenticated again transparently. Over http:// every
     * body is encrypted with it (multipart/encrypted, [MS-WSMV] 2.2.9.1)
     * unless the setting "AllowUnencrypted" is on; over https:// not. */
    WSM_AUTH_NEGOTIATE = 2, /* SPNEGO: Kerberos if it can, else NTLM */
    WSM_AUTH_NTLM = 3,      /* NTLM alone (a raw NTLMSSP token under "Negotiate") */
    /* Kerberos alone (scheme "Kerberos"). Without a password: the user's
     * credential cache (kinit); with a user name and no password, that
     * principal's. */
    WSM_AUTH_KERBEROS = 4,
    /* A TLS client certificate (https:// only): set "CertificateFile" and
     * "KeyFile" with wsm_session_set_string; password, if given, unlocks
     * the key. user may be NULL. */
    WSM_AUTH_CERTIFICATE = 5,
};

struct wsm_session_opts {
    const char *url;      /* http://host:5985/wsman; "/wsman" is added if no path */
    const char *user;     /* needed by Basic; NULL with NONE and CERTIFICATE, and
                             for NEGOTIATE, NTLM and KERBEROS means the default
                             credentials (Kerberos ccache; NTLM_USER_FILE) */
    const char *password; /* needed by Basic; may be NULL otherwise. NTLM user
                             names may be "DOMAIN\\user"; Kerberos ones
                             "user@REALM" */
    enum wsm_auth auth;
    long timeout_ms; /* 0: 60000 */
};

enum wsm_err wsm_session_new(const struct wsm_session_opts *opts, wsm_session **out);
void wsm_session_free(wsm_session *s);

/* The last fault or transport error, as text; valid until the next call. */
const char *wsm_session_error(const wsm_session *s);
/* The Windows code of the last fault (WSManFault/@Code), or 0. */
unsigned long wsm_session_fault_code(const wsm_session *s);

/* The last fault in parts, as the server wrote it (NULL members when
 * absent): valid until the next call on the session; NULL when the last
 * call did not end in a fault. Servers differ in what they put there:
 * Windows and wsmd a WSManFault (wsman_code, message), OMI an OMI_Error
 * instance (the cim_ members), OpenWSMAN a subcode and a reason only. */
struct wsm_fault {
    const char *code;         /* s:Code/s:Value, "s:Sender" */
    const char *subcode;      /* s:Subcode/s:Value, "wsa:DestinationUnreachable" */
    const char *reason;       /* s:Reason/s:Text */
    const char *message;      /* f:WSManFault/f:Message */
    const char *fault_detail; /* w:FaultDetail, a URI */
    unsigned long wsman_code; /* f:WSManFault/@Code; 0: none */
    /* wsman_code, else the Windows number of the subcode (Windows' client
     * does the same: wsa:DestinationUnreachable is 0x80338012); 0: unknown.
     * wsm_session_fault_code() returns it. */
    unsigned long win_code;
    const char *cim_class;       /* "OMI_Error", "CIM_Error": a CIM error in the detail */
    long cim_status;             /* its CIMStatusCode; -1: none */
    const char *cim_status_name; /* "CIM_ERR_NOT_FOUND"; NULL if unknown */
    const char *cim_message;     /* its Message */
};
const struct wsm_fault *wsm_session_fault(const wsm_session *s);

/* The body of the last reply, to show when it could not be used (a
 * fault, a reply that is not SOAP or not what was asked; at most 1 MiB of
 * a failed one), NUL-terminated, its length in *len (len may be NULL);
 * NULL when the last request had no reply. Valid until the next call on
 * the session. */
const char *wsm_session_reply(const wsm_session *s, size_t *len);

struct wsm_identity {
    char *protocol_version;
    char *product_vendor;
    char *product_version;
};

/* Identify; anonymous when the session's auth is WSM_AUTH_NONE. The raw
 * response envelope is returned in *xml if xml is non-NULL (free()). */
enum wsm_err wsm_identify(wsm_session *s, struct wsm_identity *out, char **xml);
void wsm_identity_clear(struct wsm_identity *id);

/* Session settings by name:
 *   "MaxEnvelopeSize"  bytes (w:MaxEnvelopeSize sent; default 512000)
 *   "OperationTimeout" milliseconds (w:OperationTimeout; default 60000)
 *   "SkipCACheck", "SkipCNCheck"  nonzero: do not verify the HTTPS
 *                      certificate chain / host name (winrs -skipCAcheck)
 *   "ReceiveAhead"     nonzero: while a command's output flows, send the next
 *                      Receive on a second connection (a thread) while the
 *                      last reply is processed (default off; winrs sets it)
 *   "AllowUnencrypted" nonzero: with Negotiate/NTLM/Kerberos over http://,
 *                      send and accept plain bodies (winrs -unencrypted;
 *                      the service must allow it)
 * WSM_ERR_INVALID_ARG for an unknown name or a value out of range. */
enum wsm_err wsm_session_set(wsm_session *s, const char *name, long value);

/* String settings by name (copied; NULL unsets):
 *   "CertificateFile"  PEM client certificate offered in TLS handshakes
 *                      (needed by WSM_AUTH_CERTIFICATE)
 *   "KeyFile"          its PEM private key (default: in CertificateFile)
 *   "CAFile"           PEM certificates to trust for https:// instead of
 *                      the system's
 *   "SPN"              GSSAPI target name "service@host" (Negotiate, NTLM,
 *                      Kerberos; default "HTTP@" the URL's host; no effect
 *                      with the other schemes)
 *   "ClientKeytab"     a keytab (path) to get the Kerberos credentials of
 *                      the session's user from, instead of the credential
 *                      cache (a service's machine principal); the tickets
 *                      stay in memory (Negotiate, Kerberos)
 * WSM_ERR_INVALID_ARG for an unknown name or an empty value. Set them
 * before the first request. */
enum wsm_err wsm_session_set_string(wsm_session *s, const char *name, const char *value);

/* ---- remote shell (WinRS) ------------------------------------------ */

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
    int xpress;             /* CompressionType xpress: streams compressed both ways */
};

/* Transfer Create. o may be NULL for the defaults. */
enum wsm_err wsm_shell_create(wsm_session *s, const struct wsm_shell_opts *o, wsm_shell **out);
/* A handle for an existing shell over another session (for instance a
 * second thread's); free it with wsm_shell_free, which does not delete. */
enum wsm_err wsm_shell_open(wsm_session *s, const char *shell_id, wsm_shell **out);
void wsm_shell_free(wsm_shell *sh);
/* For a handle from wsm_shell_open: the shell was created with xpress. */
void wsm_shell_set_xpress(wsm_shell *sh, int on);
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

/* The rest of the API: management data and WS-Eventing subscriptions. */
#include "data.h"

#endif
