/* What a Kerberos failure usually means when a Windows machine (or any
 * client) cannot authenticate: the set-up mistakes that MIT's own text
 * names only by their symptom. The codes are krb5's (com_err table
 * KRB5), as GSSAPI passes them up as minor status. */
#include <krb5/krb5.h>
#include <stdint.h>

#include "krb5hint.h"

const char *wsmd__krb5_hint(uint32_t minor)
{
    switch ((int32_t)minor) {
    case KRB5KRB_AP_ERR_SKEW:
        return "clock skew: the client's and this host's clocks differ by more than 5 minutes; "
               "synchronise both with NTP (the domain controllers' time)";
    case KRB5_KT_NOTFOUND:
    case KRB5KRB_AP_ERR_NOT_US:
    case KRB5KRB_AP_WRONG_PRINC:
        return "wrong SPN: the keytab has no key for the service principal the client asked "
               "for; the keytab needs HTTP/fqdn and HOST/fqdn of the name clients use (setspn "
               "-L, ktpass), and ServicePrincipal unset or naming that principal";
    case KRB5_KT_KVNONOTFOUND:
    case KRB5KRB_AP_ERR_BADKEYVER:
        return "stale keytab: the key version (kvno) of the ticket is not in the keytab; the "
               "account's password changed since the keytab was made: export it again";
    case KRB5_BAD_ENCTYPE:
    case KRB5KRB_AP_ERR_NOKEY:
        return "missing enctype: the keytab has no key of the ticket's encryption type "
               "(Windows uses AES256/AES128 by default): export the keytab with those "
               "enctypes (ktpass /crypto AES256-SHA1 or ALL)";
    case KRB5KRB_AP_ERR_MODIFIED:
        return "the ticket does not decrypt with the keytab's key: the keytab belongs to "
               "another account or an old password of it; export it again";
    default:
        return NULL;
    }
}
