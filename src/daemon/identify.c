#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "ns.h"
#include "server.h"

#define PROFILE "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"

static char os_release[128] = "0.0.0";

static void read_release(void)
{
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(os_release, sizeof(os_release), "%s", u.release);
}

/* DSP0226 11: IdentifyResponse. The anonymous form tells no more than the
 * protocol and the vendor; the OS release is for authenticated callers. */
enum wsm_err wsmd__identify(struct wsmd_call *call)
{
    struct wsm_buf *o = call->out;
    enum wsm_err e;
    char osver[128] = "0.0.0";

    if (call->user) {
        /* The release does not change while we run: ask the kernel once. */
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, read_release);
        memcpy(osver, os_release, sizeof(osver));
    }
    e = wsm__buf_puts(o, "<s:Envelope xml:lang=\"en-US\" xmlns:s=\"" WSM_NS_SOAP
                         "\" xmlns:wsmid=\"" WSM_NS_IDENTITY "\"><s:Header/><s:Body>"
                         "<wsmid:IdentifyResponse><wsmid:ProtocolVersion>" WSM_NS_WSMAN
                         "</wsmid:ProtocolVersion><wsmid:ProductVendor>wsmd"
                         "</wsmid:ProductVendor><wsmid:ProductVersion>OS: ");
    if (!e)
        e = wsm__buf_xml(o, osver);
    if (!e)
        e = wsm__buf_puts(o, " SP: 0.0 Stack: 3.0</wsmid:ProductVersion>"
                             "<wsmid:SecurityProfiles>");
    /* What this listener accepts: Basic inside TLS on an HTTPS listener;
     * on plain HTTP, Basic only where it is allowed (loopback, or
     * AllowUnencrypted). */
    if (!e && call->lis->https)
        e = wsm__buf_puts(o, "<wsmid:SecurityProfileName>" PROFILE
                             "https/basic</wsmid:SecurityProfileName>");
    if (!e && call->lis->https && call->srv->certauth)
        /* Client certificates (ClientCAFile). */
        e = wsm__buf_puts(o, "<wsmid:SecurityProfileName>" PROFILE
                             "https/mutual</wsmid:SecurityProfileName>");
    if (!e && !call->lis->https && (call->lis->loopback || call->srv->cfg.allow_unencrypted))
        e = wsm__buf_puts(o, "<wsmid:SecurityProfileName>" PROFILE
                             "http/basic</wsmid:SecurityProfileName>");
    if (!e)
        e = wsm__buf_puts(o, "</wsmid:SecurityProfiles></wsmid:IdentifyResponse>"
                             "</s:Body></s:Envelope>");
    return e;
}
