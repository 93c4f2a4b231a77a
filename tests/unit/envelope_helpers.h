/* Helpers of the envelope's unit tests (test_envelope*.c): an envelope
 * written from headers and a body, and parsing that expects success or
 * one error. Static inline: each program is a single file plus this. */
#ifndef WSM_TESTS_ENVELOPE_HELPERS_H
#define WSM_TESTS_ENVELOPE_HELPERS_H

#include <string.h>

#include "envelope.h"
#include "ns.h"

#define NS_DECL                                                                                    \
    " xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA "\" xmlns:w=\"" WSM_NS_WSMAN "\""
#define ENV(headers, body)                                                                         \
    "<s:Envelope" NS_DECL "><s:Header>" headers "</s:Header><s:Body>" body "</s:Body></"           \
    "s:Envelope>"
#define MSGID "uuid:11111111-2222-3333-4444-555555555555"
#define H_ACTION "<a:Action>http://example.org/Act</a:Action>"
#define H_MSGID "<a:MessageID>" MSGID "</a:MessageID>"
#define IDENTIFY "<wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY "\"/>"

static inline enum wsm_err parse_lim(const char *xml, const struct wsm_limits *lim,
                                     struct wsm_envelope **env)
{
    *env = NULL;
    enum wsm_err e = wsm__envelope_parse(xml, strlen(xml), lim, env, NULL, 0);
    if (e)
        assert_null(*env);
    else
        assert_non_null(*env);
    return e;
}

static inline enum wsm_err parse(const char *xml, struct wsm_envelope **env)
{
    return parse_lim(xml, NULL, env);
}

/* Parses xml expecting failure err; returns nothing, frees nothing. */
static inline void expect_err(const char *xml, const struct wsm_limits *lim, enum wsm_err err)
{
    struct wsm_envelope *env = NULL;
    enum wsm_err e = parse_lim(xml, lim, &env);
    if (e != err) {
        wsm__envelope_free(env);
        fail_msg("expected %d (%s), got %d (%s) for: %s", err, wsm_strerror(err), e,
                 wsm_strerror(e), xml);
    }
}

static inline void expect_ok(const char *xml, const struct wsm_limits *lim)
{
    struct wsm_envelope *env = NULL;
    enum wsm_err e = parse_lim(xml, lim, &env);
    if (e != WSM_OK)
        fail_msg("expected success, got %d (%s) for: %s", e, wsm_strerror(e), xml);
    wsm__envelope_free(env);
}

#endif
