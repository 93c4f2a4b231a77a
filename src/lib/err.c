#include "wsm/wsm.h"

static const char *const messages[WSM_ERR__COUNT] = {
    [WSM_OK] = "success",
    [WSM_ERR_NOMEM] = "out of memory",
    [WSM_ERR_INVALID_ARG] = "invalid argument",
    [WSM_ERR_IO] = "input/output error",
    [WSM_ERR_XML_MALFORMED] = "malformed XML",
    [WSM_ERR_XML_DTD] = "document type declarations are not allowed",
    [WSM_ERR_XML_DEPTH] = "XML nesting too deep",
    [WSM_ERR_ENVELOPE_TOO_LARGE] = "envelope larger than MaxEnvelopeSize",
    [WSM_ERR_NOT_SOAP] = "not a SOAP envelope",
    [WSM_ERR_SOAP_VERSION] = "unsupported SOAP version",
    [WSM_ERR_BAD_HEADER] = "invalid message information header",
    [WSM_ERR_HEADER_REQUIRED] = "a required message information header is missing",
    [WSM_ERR_MUST_UNDERSTAND] = "a mustUnderstand header was not understood",
    [WSM_ERR_ACTION_NOT_SUPPORTED] = "action not supported",
    [WSM_ERR_DESTINATION_UNREACHABLE] = "destination unreachable",
    [WSM_ERR_ACCESS_DENIED] = "access denied",
    [WSM_ERR_INVALID_SELECTORS] = "invalid selectors",
    [WSM_ERR_TIMED_OUT] = "operation timed out",
    [WSM_ERR_INTERNAL] = "internal error",
    [WSM_ERR_UNSUPPORTED_MEDIA] = "unsupported media type",
    [WSM_ERR_INVALID_TIMEOUT] = "invalid OperationTimeout",
    [WSM_ERR_ENCODING] = "invalid encoding",
    [WSM_ERR_NOT_FOUND] = "not found",
    [WSM_ERR_INVALID_OPTIONS] = "invalid options",
    [WSM_ERR_QUOTA] = "quota exceeded",
    [WSM_ERR_UNSUPPORTED_FEATURE] = "unsupported feature",
    [WSM_ERR_AUTH] = "authentication failed",
    [WSM_ERR_HTTP] = "HTTP transport error",
    [WSM_ERR_FAULT] = "the service answered a fault",
    [WSM_ERR_SHELL_NOT_FOUND] = "the shell was not found",
    [WSM_ERR_QUOTA_SHELLS] = "too many shells for this user",
    [WSM_ERR_QUOTA_PROCESSES] = "too many processes in this shell",
    [WSM_ERR_INVALID_ENUM_CONTEXT] = "invalid enumeration context",
    [WSM_ERR_FILTER_DIALECT] = "filter dialect not supported",
    [WSM_ERR_CANNOT_PROCESS_FILTER] = "cannot process the filter",
    [WSM_ERR_INVALID_REPRESENTATION] = "invalid representation",
    [WSM_ERR_FRAGMENT] = "invalid fragment",
    [WSM_ERR_XML_ATTRIBUTES] = "too many XML attributes on an element",
    [WSM_ERR_ALREADY_EXISTS] = "already exists",
    [WSM_ERR_DELIVERY_MODE] = "delivery mode not available",
    [WSM_ERR_INVALID_EXPIRATION] = "invalid expiration time",
    [WSM_ERR_FILTERING_UNAVAILABLE] = "filter dialect not available",
    [WSM_ERR_UNABLE_TO_RENEW] = "unable to renew the subscription",
    [WSM_ERR_INVALID_SUBSCRIPTION] = "unknown subscription",
    [WSM_ERR_INVALID_BOOKMARK] = "invalid bookmark",
};

const char *wsm_strerror(enum wsm_err err)
{
    if ((unsigned)err >= WSM_ERR__COUNT || !messages[err])
        return "unknown error";
    return messages[err];
}
