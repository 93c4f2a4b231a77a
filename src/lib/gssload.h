/* GSSAPI (MIT krb5's libgssapi_krb5, and through it gss-ntlmssp) loaded
 * with dlopen on first use, for both sides of HTTP Negotiate: the client
 * (gss_client.c) and wsmd (src/daemon/negotiate.c). Neither links it: a
 * program that never sees Negotiate never maps it, nor gss-ntlmssp and the
 * OpenSSL that comes with it (some 3 MB of resident memory). */
#ifndef WSM_GSSLOAD_H
#define WSM_GSSLOAD_H

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>

#define WSM_GSSAPI_LIB "libgssapi_krb5.so.2"

/* The functions used, resolved by wsm__gss_load. */
struct wsm_gss_fns {
    __typeof__(gss_import_name) *import_name;
    __typeof__(gss_release_name) *release_name;
    __typeof__(gss_acquire_cred) *acquire_cred;
    __typeof__(gss_acquire_cred_with_password) *acquire_cred_with_password;
    __typeof__(gss_acquire_cred_from) *acquire_cred_from;
    __typeof__(gss_release_cred) *release_cred;
    __typeof__(gss_set_neg_mechs) *set_neg_mechs;
    __typeof__(gss_init_sec_context) *init_sec_context;
    __typeof__(gss_accept_sec_context) *accept_sec_context;
    __typeof__(gss_delete_sec_context) *delete_sec_context;
    __typeof__(gss_display_name) *display_name;
    __typeof__(gss_localname) *localname;
    __typeof__(gss_display_status) *display_status;
    __typeof__(gss_release_buffer) *release_buffer;
    __typeof__(gss_wrap) *wrap;
    __typeof__(gss_unwrap) *unwrap;
    __typeof__(gss_wrap_iov) *wrap_iov;
    __typeof__(gss_unwrap_iov) *unwrap_iov;
    __typeof__(gss_release_iov_buffer) *release_iov_buffer;
    __typeof__(gss_export_sec_context) *export_sec_context;
    __typeof__(gss_import_sec_context) *import_sec_context;
    /* Optional (NULL when missing): without them NTLM seals through
     * gss_wrap instead of ntlmseal.c. */
    __typeof__(gss_inquire_sec_context_by_oid) *inquire_sec_context_by_oid;
    __typeof__(gss_release_buffer_set) *release_buffer_set;
};

/* Valid once wsm__gss_load has returned 1. */
extern struct wsm_gss_fns wsm__gss;

/* Loads the library and resolves the functions, once (thread-safe).
 * 1 if they are all there; else 0 and wsm__gss_load_error says why. */
int wsm__gss_load(void);
/* 1 if an earlier wsm__gss_load succeeded (loads nothing). */
int wsm__gss_loaded(void);
const char *wsm__gss_load_error(void);

/* The OIDs used, spelled out (gss-ntlmssp's header is not needed). */
extern gss_OID_desc wsm__oid_ntlm;            /* 1.3.6.1.4.1.311.2.2.10 */
extern gss_OID_desc wsm__oid_spnego;          /* 1.3.6.1.5.5.2 */
extern gss_OID_desc wsm__oid_krb5;            /* 1.2.840.113554.1.2.2 */
extern gss_OID_desc wsm__oid_nt_hostbased;    /* GSS_C_NT_HOSTBASED_SERVICE */
extern gss_OID_desc wsm__oid_nt_user;         /* GSS_C_NT_USER_NAME */
extern gss_OID_desc wsm__oid_inq_session_key; /* GSS_C_INQ_SSPI_SESSION_KEY */

int wsm__gss_oid_eq(const gss_OID_desc *a, const gss_OID_desc *b);

#endif
