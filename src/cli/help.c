/* winrm's help: the usage (`winrm -?`), `winrm help [TOPIC]` and
 * `winrm helpmsg CODE`.
 *
 * The usage and the topics come from man/winrm.txt, the same source as
 * winrm(1) (man/mangen.py writes winrm_help.h), so that the page and the
 * tool cannot disagree. The messages of helpmsg are the WS-Management
 * fault codes that wsmd puts in its faults (src/lib/fault.c) and that
 * winrm and winrs report, and the Win32 errors among them; the text is
 * ours, saying what the code means here and, where it helps, what to do. */
#include "help.h"
#include "quickconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "winrm_help.h"

static const struct {
    const char *name;
    const char *text;
} topics[] = {WINRM_HELP_TOPICS};

void winrm_print_usage(FILE *f)
{
    fputs(WINRM_HELP_TEXT, f);
}

int winrm_help(const char *topic)
{
    if (!topic) {
        winrm_print_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (!strcasecmp(topics[i].name, topic)) {
            fputs(topics[i].text, stdout);
            return 0;
        }
    fprintf(stderr, "winrm: no help topic '%s'. The topics are:", topic);
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        fprintf(stderr, " %s", topics[i].name);
    fputs(".\n", stderr);
    return 1;
}

void winrm_quickconfig_help(void)
{
    winrm_help("quickconfig");
}

/* Codes as Windows numbers them: Win32 errors below 0x10000, HRESULTs
 * (ERROR_WSMAN_* is 0x80338000 and up) above. */
static const struct {
    unsigned long code;
    const char *name;
    const char *text;
} messages[] = {
    {2, "ERROR_FILE_NOT_FOUND", "The system cannot find the file specified."},
    {5, "ERROR_ACCESS_DENIED",
     "Access is denied. The user name or password was not accepted, or the user does not "
     "hold the right the operation needs (wsmd: an Allow line of wsmd.conf, or membership "
     "of wsmd-admins or wsmd-users)."},
    {14, "ERROR_OUTOFMEMORY",
     "Not enough memory resources are available to complete the "
     "operation."},
    {87, "ERROR_INVALID_PARAMETER", "The parameter is incorrect."},
    {183, "ERROR_ALREADY_EXISTS",
     "Cannot create a file when that file already exists (wsmd: a listener or certificate "
     "mapping with these keys exists already; delete it first)."},
    {1326, "ERROR_LOGON_FAILURE", "The user name or password is incorrect."},
    {0x80004005UL, "E_FAIL",
     "Unspecified error: the operation failed without a WS-Management fault code (winrm "
     "prints the reason after the number)."},
    {0x80338000UL, "ERROR_WSMAN_RESOURCE_NOT_FOUND",
     "The WS-Management service cannot find the resource identified by the resource URI and "
     "selectors: check the class name and the selector values (winrm help uris)."},
    {0x80338003UL, "ERROR_WSMAN_INTERNAL_ERROR",
     "The WS-Management service failed to process the request because of an internal "
     "error. Its log says more."},
    {0x8033800DUL, "ERROR_WSMAN_SOAP_VERSION_MISMATCH",
     "The WS-Management service supports SOAP 1.2 only."},
    {0x8033800FUL, "ERROR_WSMAN_INVALID_MESSAGE_INFORMATION_HEADER",
     "The WS-Management service cannot process the request because a message information "
     "header (To, Action, MessageID, ReplyTo...) is invalid."},
    {0x80338010UL, "ERROR_WSMAN_SOAP_FAULT_MUST_UNDERSTAND",
     "The WS-Management service cannot process a header marked mustUnderstand."},
    {0x80338011UL, "ERROR_WSMAN_MESSAGE_INFORMATION_HEADER_REQUIRED",
     "The WS-Management service cannot process the request because a required header is "
     "missing."},
    {0x80338012UL, "ERROR_WSMAN_DESTINATION_UNREACHABLE",
     "The client cannot connect to the destination specified in the request, or the "
     "service does not serve the resource URI. Verify that the service on the destination "
     "is running and is accepting requests (systemctl status wsmd; a listener on the "
     "address and port: winrm enumerate winrm/config/listener), that a firewall lets the "
     "port through, and that the resource URI is right."},
    {0x80338013UL, "ERROR_WSMAN_ACTION_NOT_SUPPORTED",
     "The WS-Management service cannot process the request because the action is not "
     "supported for this resource."},
    {0x80338015UL, "ERROR_WSMAN_INVALID_REPRESENTATION",
     "The WS-Management service cannot process the request because the XML representation "
     "is invalid for this resource (a property name or value is wrong)."},
    {0x80338019UL, "ERROR_WSMAN_FILTERING_REQUESTED_UNAVAILABLE",
     "The WS-Management service does not support the requested filter dialect "
     "(winrm help filters)."},
    {0x8033801BUL, "ERROR_WSMAN_INVALID_ENUMERATION_CONTEXT",
     "The enumeration context is not valid: it is unknown, has expired "
     "(EnumerationTimeoutms) or was released."},
    {0x8033801EUL, "ERROR_WSMAN_EVENTING_DELIVERY_MODE_REQUESTED_UNAVAILABLE",
     "The event source does not serve the requested delivery mode (wsmd: subscribe to the "
     "event log with the Pull mode)."},
    {0x8033801FUL, "ERROR_WSMAN_EVENTING_INVALID_EXPIRATION_TIME",
     "The expiration time of the subscription is not valid: give a positive duration (PT1H) "
     "or a time in the future."},
    {0x80338022UL, "ERROR_WSMAN_EVENTING_FILTERING_REQUESTED_UNAVAILABLE",
     "The event source does not support the requested filter dialect: event log "
     "subscriptions take a QueryList (dialect http://schemas.microsoft.com/win/2004/08/"
     "events/eventquery)."},
    {0x80338024UL, "ERROR_WSMAN_EVENTING_UNABLE_TO_RENEW",
     "The subscription cannot be renewed: it is unknown, has expired or was ended."},
    {0x80338025UL, "ERROR_WSMAN_EVENTING_INVALID_MESSAGE",
     "The subscription is unknown, has expired or was ended (or the request is not a valid "
     "eventing message)."},
    {0x80338029UL, "ERROR_WSMAN_OPERATION_TIMEDOUT",
     "The WS-Management service cannot complete the operation within the time specified in "
     "OperationTimeout (-timeout:MS)."},
    {0x80338035UL, "ERROR_WSMAN_ENCODING_LIMIT",
     "The WS-Management service cannot process the request because the envelope is larger "
     "than MaxEnvelopeSize (winrm get winrm/config)."},
    {0x80338038UL, "ERROR_WSMAN_INVALID_BOOKMARK",
     "The bookmark is not valid for this event source: give a bookmark this host sent, or "
     "none."},
    {0x80338039UL, "ERROR_WSMAN_INVALID_OPTIONS",
     "The WS-Management service cannot process the request because an option (-options) is "
     "invalid."},
    {0x8033803AUL, "ERROR_WSMAN_INVALID_PARAMETER",
     "The WS-Management service cannot process the request because a parameter is "
     "invalid."},
    {0x8033803DUL, "ERROR_WSMAN_INVALID_SELECTORS",
     "The WS-Management service cannot process the request because the selectors are "
     "invalid: a key is missing, unknown or has a bad value."},
    {0x8033803FUL, "ERROR_WSMAN_QUOTA_LIMIT",
     "The WS-Management service cannot process the request because a quota was exceeded "
     "(see the quotas in wsmd.conf(5))."},
    {0x80338041UL, "ERROR_WSMAN_BAD_ENCODING",
     "The WS-Management service cannot process the request because it is not a SOAP 1.2 "
     "envelope or its data is not encoded correctly."},
    {0x80338042UL, "ERROR_WSMAN_UNSUPPORTED_FEATURE",
     "The WS-Management service does not support this feature."},
    {0x80338043UL, "ERROR_WSMAN_SCHEMA_VALIDATION_ERROR",
     "The WS-Management service cannot process the request because the XML is invalid, "
     "nested too deeply, has too many attributes or a document type declaration."},
    {0x8033805BUL, "ERROR_WSMAN_SHELL_NOT_FOUND",
     "The shell was not found on the server: the ShellId is wrong, or the shell no longer "
     "exists (it was deleted, timed out after IdleTimeout, or wsmd restarted)."},
    {0x80338075UL, "ERROR_WSMAN_UNSUPPORTED_CHARACTER_SET",
     "The WS-Management service cannot process the request because the content type or "
     "character set is not supported (application/soap+xml, UTF-8 or UTF-16)."},
    {0x80338081UL, "ERROR_WSMAN_INVALID_TIMEOUT_HEADER",
     "The WS-Management service cannot process the request because OperationTimeout is "
     "invalid."},
    {0x80338093UL, "ERROR_WSMAN_INVALID_FRAGMENT_PATH",
     "The WS-Management service cannot process the fragment expression (-fragment)."},
    {0x80338122UL, "ERROR_WSMAN_CANNOT_PROCESS_FILTER",
     "The WS-Management service cannot process the filter: check its syntax and that it "
     "names one class (winrm help filters)."},
    {0x8033818BUL, "ERROR_WSMAN_SHELL_INVALID_INPUT_STREAM",
     "A stream name is not valid: a shell has the input stream stdin and the output streams "
     "stdout and stderr."},
    {0x803381A5UL, "ERROR_WSMAN_QUOTA_MAX_SHELLS_PPQ",
     "This user has reached the maximum number of concurrent shells (MaxShellsPerUser): "
     "close shells, or raise the limit in wsmd.conf."},
    {0x803381A6UL, "ERROR_WSMAN_QUOTA_MAX_OPERATIONS",
     "This user has reached the maximum number of concurrent operations "
     "(MaxConcurrentOperationsPerUser): wait for requests under way, or raise the limit."},
    {0x803381ABUL, "ERROR_WSMAN_QUOTA_MAX_SHELLUSERS",
     "The maximum number of users with shells at once is reached (MaxConcurrentUsers)."},
    {0x803381E9UL, "ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ",
     "The shell has reached the maximum number of concurrent commands "
     "(MaxConcurrentCommandsPerShell) or processes (MaxProcessesPerShell)."},
};

/* decimal (2150858770, or -2144108526 as Windows prints HRESULTs), or hex
 * with 0x. A Win32 error as an HRESULT (0x8007xxxx) is the Win32 error. */
static int parse_code(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    long long v = hex ? (long long)strtoull(s + 2, &end, 16) : strtoll(s, &end, 10);
    if (!*s || (hex && !s[2]) || end == s || *end || errno || v < -0x80000000LL ||
        v > 0xffffffffLL || (hex && strchr(s, '-')))
        return -1;
    unsigned long c = (unsigned long)(v < 0 ? v + 0x100000000LL : v);
    if ((c & 0xffff0000UL) == 0x80070000UL)
        c &= 0xffff;
    *out = c;
    return 0;
}

int winrm_helpmsg(const char *arg)
{
    unsigned long code;
    if (!arg || parse_code(arg, &code) != 0) {
        fprintf(stderr,
                "winrm: helpmsg wants a message number, decimal or 0x hexadecimal, "
                "not '%s'\n",
                arg ? arg : "");
        return 2;
    }
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
        if (messages[i].code == code) {
            printf("%s\n%s (%lu, 0x%08lX)\n", messages[i].text, messages[i].name, code, code);
            if (code < 0x10000UL) /* a Win32 error: also as the HRESULT Windows prints */
                printf("HRESULT 0x%08lX\n", 0x80070000UL | code);
            return 0;
        }
    fprintf(stderr,
            "winrm: no message for %s (0x%08lX): not a code wsmd, winrm or winrs "
            "reports\n",
            arg, code);
    return 1;
}
