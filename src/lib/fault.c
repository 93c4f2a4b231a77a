#include "fault.h"

#include <unistd.h>

#include "ns.h"
#include "uuid.h"

#define FD "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"

/* Windows codes are the ERROR_WSMAN_* values (0x80338000 and up). */
static const struct wsm_fault_info table[] = {
    {WSM_ERR_NOMEM, "s:Receiver", "w:InternalError", "The service ran out of memory.", 14, 500, 0,
     NULL},
    {WSM_ERR_INVALID_ARG, "s:Sender", "w:InvalidParameter",
     "The WS-Management service cannot process the request because a parameter is invalid.",
     2150858810UL, 500, 0, NULL},
    {WSM_ERR_IO, "s:Receiver", "w:InternalError",
     "The WS-Management service failed an internal input/output operation.", 2150858755UL, 500, 0,
     NULL},
    {WSM_ERR_XML_MALFORMED, "s:Sender", "w:SchemaValidationError",
     "The WS-Management service cannot process the request because the XML is invalid.",
     2150858819UL, 400, 0, NULL},
    {WSM_ERR_XML_DTD, "s:Sender", "w:SchemaValidationError",
     "The WS-Management service cannot process the request because it contains a document "
     "type declaration.",
     2150858819UL, 400, 0, NULL},
    {WSM_ERR_XML_DEPTH, "s:Sender", "w:SchemaValidationError",
     "The WS-Management service cannot process the request because the XML is nested too "
     "deeply.",
     2150858819UL, 400, 0, NULL},
    {WSM_ERR_XML_ATTRIBUTES, "s:Sender", "w:SchemaValidationError",
     "The WS-Management service cannot process the request because an element has more "
     "attributes than the service accepts.",
     2150858819UL, 400, 0, NULL},
    {WSM_ERR_ENVELOPE_TOO_LARGE, "s:Sender", "w:EncodingLimit",
     "The WS-Management service cannot process the request because the envelope size exceeds "
     "MaxEnvelopeSize.",
     2150858805UL, 500, 0, FD "MaxEnvelopeSize"},
    {WSM_ERR_NOT_SOAP, "s:Sender", "w:SchemaValidationError",
     "The WS-Management service cannot process the request because it is not a SOAP 1.2 "
     "envelope.",
     2150858817UL, 400, 0, NULL},
    {WSM_ERR_SOAP_VERSION, "s:VersionMismatch", NULL,
     "The WS-Management service supports SOAP 1.2 only.", 2150858765UL, 500, 0, NULL},
    {WSM_ERR_BAD_HEADER, "s:Sender", "a:InvalidMessageInformationHeader",
     "The WS-Management service cannot process the request because a message information "
     "header is invalid.",
     2150858767UL, 500, 1, NULL},
    {WSM_ERR_HEADER_REQUIRED, "s:Sender", "a:MessageInformationHeaderRequired",
     "The WS-Management service cannot process the request because a required header is "
     "missing.",
     2150858769UL, 500, 1, NULL},
    {WSM_ERR_MUST_UNDERSTAND, "s:MustUnderstand", NULL,
     "The WS-Management service cannot process a header marked mustUnderstand.", 2150858768UL, 500,
     0, NULL},
    {WSM_ERR_ACTION_NOT_SUPPORTED, "s:Sender", "a:ActionNotSupported",
     "The WS-Management service cannot process the request because the action is not "
     "supported for this resource.",
     2150858771UL, 500, 1, FD "ActionMismatch"},
    {WSM_ERR_DESTINATION_UNREACHABLE, "s:Sender", "a:DestinationUnreachable",
     "The WS-Management service cannot process the request because the resource URI is not "
     "served here.",
     2150858770UL, 500, 1, FD "InvalidResourceURI"},
    {WSM_ERR_ACCESS_DENIED, "s:Sender", "w:AccessDenied", "Access is denied.", 5, 500, 0, NULL},
    {WSM_ERR_INVALID_SELECTORS, "s:Sender", "w:InvalidSelectors",
     "The WS-Management service cannot process the request because the selectors are invalid.",
     2150858813UL, 500, 0, NULL},
    {WSM_ERR_TIMED_OUT, "s:Receiver", "w:TimedOut",
     "The WS-Management service cannot complete the operation within the time specified in "
     "OperationTimeout.",
     2150858793UL, 500, 0, NULL},
    {WSM_ERR_INTERNAL, "s:Receiver", "w:InternalError",
     "The WS-Management service failed to process the request.", 2150858755UL, 500, 0, NULL},
    {WSM_ERR_UNSUPPORTED_MEDIA, "s:Sender", "w:EncodingLimit",
     "The WS-Management service cannot process the request because the content type or "
     "character set is not supported.",
     2150858869UL, 415, 0, FD "CharacterSet"},
    {WSM_ERR_INVALID_TIMEOUT, "s:Sender", "a:InvalidMessageInformationHeader",
     "The WS-Management service cannot process the request because OperationTimeout is "
     "invalid.",
     2150858881UL, 500, 1, NULL},
    {WSM_ERR_ENCODING, "s:Sender", "w:SchemaValidationError",
     "The WS-Management service cannot process the request because data is not encoded "
     "correctly.",
     2150858817UL, 500, 0, NULL},
    {WSM_ERR_NOT_FOUND, "s:Sender", "a:DestinationUnreachable",
     "The WS-Management service cannot find the resource identified by the resource URI and "
     "selectors.",
     2150858752UL, 500, 1, NULL},
    {WSM_ERR_INVALID_OPTIONS, "s:Sender", "w:InvalidOptions",
     "The WS-Management service cannot process the request because an option is invalid.",
     2150858809UL, 500, 0, NULL},
    {WSM_ERR_QUOTA, "s:Receiver", "w:QuotaLimit",
     "The WS-Management service cannot process the request because a quota was exceeded.",
     2150858815UL, 500, 0, NULL},
    {WSM_ERR_UNSUPPORTED_FEATURE, "s:Sender", "w:UnsupportedFeature",
     "The WS-Management service does not support this feature.", 2150858818UL, 500, 0, NULL},
    {WSM_ERR_AUTH, "s:Sender", "w:AccessDenied", "Access is denied.", 5, 401, 0, NULL},
    {WSM_ERR_SHELL_NOT_FOUND, "s:Sender", "w:InvalidSelectors",
     "The request for the Windows Remote Shell failed because the shell was not found on the "
     "server. Possible causes are: the specified ShellId is incorrect or the shell no longer "
     "exists on the server.",
     2150858843UL, 500, 0, FD "InvalidValue"},
    {WSM_ERR_INVALID_ENUM_CONTEXT, "s:Receiver", "n:InvalidEnumerationContext",
     "The WS-Management service cannot process the request because the enumeration context "
     "is not valid: it is unknown, has expired or was released.",
     2150858779UL, 500, 0, NULL},
    {WSM_ERR_FILTER_DIALECT, "s:Sender", "n:FilterDialectRequestedUnavailable",
     "The WS-Management service does not support the requested filter dialect.", 2150858777UL, 500,
     0, NULL},
    {WSM_ERR_CANNOT_PROCESS_FILTER, "s:Sender", "w:CannotProcessFilter",
     "The WS-Management service cannot process the filter.", 2150859042UL, 500, 0, NULL},
    {WSM_ERR_INVALID_REPRESENTATION, "s:Sender", "x:InvalidRepresentation",
     "The WS-Management service cannot process the request because the XML representation is "
     "invalid for this resource.",
     2150858773UL, 500, 0, FD "InvalidValues"},
    {WSM_ERR_FRAGMENT, "s:Sender", "w:InvalidParameter",
     "The WS-Management service cannot process the fragment expression.", 2150858899UL, 500, 0,
     NULL},
    /* What Windows answers for a listener or mapping that exists: the
     * Win32 ERROR_ALREADY_EXISTS (0x800700B7) under w:AlreadyExists. */
    {WSM_ERR_ALREADY_EXISTS, "s:Sender", "w:AlreadyExists",
     "Cannot create a file when that file already exists.", 2147942583UL, 500, 0, NULL},
    /* WS-Eventing (DSP0226 10, MS-WSMV 3.1.4.1.30); the codes are Windows'
     * ERROR_WSMAN_EVENTING_* and ERROR_WSMAN_INVALID_BOOKMARK. */
    {WSM_ERR_DELIVERY_MODE, "s:Sender", "e:DeliveryModeRequestedUnavailable",
     "The WS-Management service does not support the requested delivery mode.", 2150858782UL, 500,
     0, NULL},
    {WSM_ERR_INVALID_EXPIRATION, "s:Sender", "e:InvalidExpirationTime",
     "The expiration time of the subscription is not valid: it must be a positive duration or a "
     "time in the future.",
     2150858783UL, 500, 0, NULL},
    {WSM_ERR_FILTERING_UNAVAILABLE, "s:Sender", "e:FilteringRequestedUnavailable",
     "The WS-Management service does not support the requested filter dialect for events.",
     2150858786UL, 500, 0, NULL},
    {WSM_ERR_UNABLE_TO_RENEW, "s:Receiver", "e:UnableToRenew",
     "The subscription cannot be renewed: it is unknown or has ended.", 2150858788UL, 500, 0, NULL},
    {WSM_ERR_INVALID_SUBSCRIPTION, "s:Sender", "e:InvalidMessage",
     "The subscription is unknown, has expired or was ended.", 2150858789UL, 500, 0, NULL},
    {WSM_ERR_INVALID_BOOKMARK, "s:Sender", "w:InvalidBookmark",
     "The bookmark is not valid for this subscription.", 2150858808UL, 500, 0, NULL},
    {WSM_ERR_QUOTA_SHELLS, "s:Receiver", "w:QuotaLimit",
     "The WS-Management service cannot process the request. This user has exceeded the "
     "maximum number of concurrent shells (MaxShellsPerUser).",
     2150859173UL, 500, 0, NULL},
    {WSM_ERR_QUOTA_PROCESSES, "s:Receiver", "w:QuotaLimit",
     "The WS-Management service cannot process the request. The shell has reached the "
     "maximum number of concurrent processes (MaxProcessesPerShell).",
     2150859241UL, 500, 0, NULL},
    /* Windows' ERROR_WSMAN_SHELL_INVALID_INPUT_STREAM, ERROR_WSMAN_QUOTA_
     * MAX_SHELLUSERS, _MAX_COMMANDS_PER_SHELL_PPQ and _MAX_OPERATIONS. */
    {WSM_ERR_INVALID_STREAM, "s:Sender", "w:InvalidParameter",
     "The WS-Management service cannot process the request because a stream name is not "
     "valid: a shell has the input stream stdin and the output streams stdout and stderr.",
     2150859147UL, 500, 0, NULL},
    {WSM_ERR_QUOTA_USERS, "s:Receiver", "w:QuotaLimit",
     "The WS-Management service cannot process the request. The maximum number of users "
     "concurrently performing remote operations on the same system has been reached "
     "(MaxConcurrentUsers).",
     2150859179UL, 500, 0, NULL},
    {WSM_ERR_QUOTA_COMMANDS, "s:Receiver", "w:QuotaLimit",
     "The WS-Management service cannot process the request. The maximum number of concurrent "
     "commands per shell has been reached (MaxConcurrentCommandsPerShell).",
     2150859241UL, 500, 0, NULL},
    {WSM_ERR_QUOTA_OPERATIONS, "s:Receiver", "w:QuotaLimit",
     "The WS-Management service cannot process the operation. The maximum number of concurrent "
     "operations for this user has been exceeded (MaxConcurrentOperationsPerUser). Close "
     "existing operations for this user, or raise the quota for this user.",
     2150859174UL, 500, 0, NULL},
};

const struct wsm_fault_info *wsm__fault_info(enum wsm_err err)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].err == err)
            return &table[i];
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].err == WSM_ERR_INTERNAL)
            return &table[i];
    return &table[0];
}

enum wsm_err wsm__fault_build(struct wsm_buf *out, enum wsm_err err, const char *relates_to,
                              const char *message)
{
    const struct wsm_fault_info *fi = wsm__fault_info(err);
    char id[WSM_UUID_STRLEN];
    char host[256];
    enum wsm_err e;

    wsm__uuid_urn(id);
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';

    e = wsm__buf_puts(out, "<s:Envelope xml:lang=\"en-US\" xmlns:s=\"" WSM_NS_SOAP
                           "\" xmlns:a=\"" WSM_NS_WSA "\" xmlns:n=\"" WSM_NS_WSEN
                           "\" xmlns:x=\"" WSM_NS_WSXF "\" xmlns:w=\"" WSM_NS_WSMAN
                           "\" xmlns:e=\"" WSM_NS_WSEV "\"><s:Header><a:Action>");
    if (!e)
        e = wsm__buf_puts(out, fi->addressing ? WSM_ACTION_WSA_FAULT : WSM_ACTION_WSMAN_FAULT);
    if (!e)
        e = wsm__buf_printf(out, "</a:Action><a:MessageID>%s</a:MessageID>", id);
    if (!e)
        e = wsm__buf_puts(out, "<a:To>" WSM_ADDR_ANONYMOUS "</a:To>");
    if (!e && relates_to) {
        e = wsm__buf_puts(out, "<a:RelatesTo>");
        if (!e)
            e = wsm__buf_xml(out, relates_to);
        if (!e)
            e = wsm__buf_puts(out, "</a:RelatesTo>");
    }
    if (!e)
        e = wsm__buf_printf(out, "</s:Header><s:Body><s:Fault><s:Code><s:Value>%s</s:Value>",
                            fi->code);
    if (!e && fi->subcode)
        e = wsm__buf_printf(out, "<s:Subcode><s:Value>%s</s:Value></s:Subcode>", fi->subcode);
    if (!e)
        e = wsm__buf_puts(out, "</s:Code><s:Reason><s:Text xml:lang=\"en-US\">");
    if (!e)
        e = wsm__buf_xml(out, message ? message : fi->reason);
    if (!e)
        e = wsm__buf_puts(out, "</s:Text></s:Reason><s:Detail>");
    if (!e && fi->detail_uri)
        e = wsm__buf_printf(out, "<w:FaultDetail>%s</w:FaultDetail>", fi->detail_uri);
    if (!e)
        e = wsm__buf_printf(
            out, "<f:WSManFault xmlns:f=\"" WSM_NS_FAULT "\" Code=\"%lu\" Machine=\"", fi->wincode);
    if (!e)
        e = wsm__buf_xml(out, host);
    if (!e)
        e = wsm__buf_puts(out, "\"><f:Message>");
    if (!e)
        e = wsm__buf_xml(out, message ? message : fi->reason);
    if (!e)
        e = wsm__buf_puts(out, "</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body>"
                               "</s:Envelope>");
    return e;
}
