/* See gssload.h. */
#include "gssload.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct wsm_gss_fns wsm__gss;

gss_OID_desc wsm__oid_ntlm = {10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"};
gss_OID_desc wsm__oid_spnego = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};
gss_OID_desc wsm__oid_krb5 = {9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};
gss_OID_desc wsm__oid_nt_hostbased = {10, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04"};
gss_OID_desc wsm__oid_nt_user = {10, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x01"};
gss_OID_desc wsm__oid_inq_session_key = {11,
                                         (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x05\x05"};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[200];

/* dlsym into a function pointer slot (POSIX: a function pointer survives
 * the trip through void *). */
static int sym(void *h, const char *name, void *slot, int required)
{
    void *f = dlsym(h, name);
    if (!f && required)
        snprintf(load_error, sizeof(load_error), WSM_GSSAPI_LIB " has no %s", name);
    memcpy(slot, &f, sizeof(f));
    return f != NULL;
}

#define REQ(f) sym(h, "gss_" #f, &wsm__gss.f, 1)

static void load(void)
{
    void *h = dlopen(WSM_GSSAPI_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(load_error, sizeof(load_error), "Negotiate needs " WSM_GSSAPI_LIB ": %s",
                 why ? why : "not found");
        return;
    }
    int ok = REQ(import_name) && REQ(release_name) && REQ(acquire_cred) &&
             REQ(acquire_cred_with_password) && REQ(acquire_cred_from) && REQ(release_cred) &&
             REQ(set_neg_mechs) && REQ(init_sec_context) && REQ(accept_sec_context) &&
             REQ(delete_sec_context) && REQ(display_name) && REQ(localname) &&
             REQ(display_status) && REQ(release_buffer) && REQ(wrap) && REQ(unwrap) &&
             REQ(wrap_iov) && REQ(unwrap_iov) && REQ(release_iov_buffer) &&
             REQ(export_sec_context) && REQ(import_sec_context);
    if (ok && !(sym(h, "gss_inquire_sec_context_by_oid", &wsm__gss.inquire_sec_context_by_oid, 0) &&
                sym(h, "gss_release_buffer_set", &wsm__gss.release_buffer_set, 0)))
        wsm__gss.inquire_sec_context_by_oid = NULL;
    /* The handle stays open for the life of the process. */
    __atomic_store_n(&loaded, ok, __ATOMIC_RELEASE);
}

int wsm__gss_load(void)
{
    pthread_once(&once, load);
    return loaded;
}

int wsm__gss_loaded(void)
{
    return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
}

const char *wsm__gss_load_error(void)
{
    return load_error[0] ? load_error : WSM_GSSAPI_LIB " is not loaded";
}

int wsm__gss_oid_eq(const gss_OID_desc *a, const gss_OID_desc *b)
{
    return a && b && a->length == b->length && memcmp(a->elements, b->elements, a->length) == 0;
}
