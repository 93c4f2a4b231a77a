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
  WSM_ERR_AUTH = 26,            /* client: the server refused credentials */
  WSM_ERR_HTTP = 27,            /* client: transport or HTTP error */
  WSM_ERR_FAULT = 28,           /* client: the server answered a fault */
  WSM_ERR_SHELL_NOT_FOUND = 29, /* no such shell (or not the caller's) */
  WSM_ERR_QUOTA_SHELLS = 30,    /* MaxShellsPerUser reached */
  WSM_ERR_QUOTA_PROCESSES = 31, /* MaxProcessesPerShell reached */
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
  const char *url;  /* http://host:5985/wsman; "/wsman" is added if no path */
  const char *user; /* may be NULL with WSM_AUTH_NONE */
  const char *password; /* may be NULL with WSM_AUTH_NONE */
  enum wsm_auth auth;
  long timeout_ms; /* 0: 60000 */
};

enum wsm_err wsm_session_new(const struct wsm_session_opts *opts,
                             wsm_session **out);
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

#ifdef __cplusplus
}
#endif
#endif
