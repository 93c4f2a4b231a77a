/* libwsm client internals shared by client.c and shell_client.c. */
#ifndef WSM_CLIENT_INTERNAL_H
#define WSM_CLIENT_INTERNAL_H

#include <curl/curl.h>
#include <stddef.h>

#include "envelope.h"
#include "wsm/wsm.h"

#define WSM_DEFAULT_OPERATION_TIMEOUT_MS 60000L

struct wsm_session {
    CURL *curl;
    char *url;
    char *user;
    char *password;
    enum wsm_auth auth;
    long timeout_ms;
    size_t max_envelope;       /* w:MaxEnvelopeSize we send */
    long operation_timeout_ms; /* w:OperationTimeout we send */
    int skip_ca_check;
    int skip_cn_check;
    char error[512];
    unsigned long fault_code;
    char fault_subcode[64]; /* local name of s:Subcode/s:Value, e.g. "TimedOut" */
};

/* POSTs body (len bytes) to the session's URL. On success *env holds the
 * parsed reply (HTTP 200, no fault) and *raw the bytes if raw is not NULL.
 * If message_id is not NULL, the reply's a:RelatesTo must equal it
 * (WSM_ERR_BAD_HEADER otherwise); a fault without RelatesTo is still
 * reported as the fault. A fault gives WSM_ERR_FAULT with the session's
 * error text, fault code and subcode set. */
enum wsm_err wsm__post(wsm_session *s, const char *body, size_t len, int anonymous,
                       const char *message_id, struct wsm_envelope **env, char **raw);

/* Sets the session's error text. */
void wsm__session_errorf(wsm_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
