/* Private to the winrm tool: what its files share. winrm.c has main(),
 * connects and handles winrm/config/client locally; winrm_args.c parses
 * the command line into a struct cmd; winrm_input.c reads @{...},
 * RESOURCE?k=v and -file: input; winrm_xml.c builds the XML bodies from
 * it; winrm_ops.c runs the operation on a session and prints the result
 * or the failure. (quickconfig has its own: qc_priv.h.) */
#ifndef WINRM_PRIV_H
#define WINRM_PRIV_H

#include <stddef.h>

#include "format.h"
#include "wsm/wsm.h"

#define MAX_URI 4096

enum verb {
    V_NONE,
    V_GET,
    V_SET,
    V_CREATE,
    V_DELETE,
    V_ENUMERATE,
    V_INVOKE,
    V_IDENTIFY,
    V_SUBSCRIBE
};

/* The command line, as parsed (pointers into the argument strings). */
struct cmd {
    enum verb verb;
    const char *method, *resource, *hash;
    const char *remote, *user, *pass, *auth, *timeout, *cert, *key, *cacert, *spn;
    const char *filter, *dialect, *fragment, *options, *return_type, *file;
    int have_filter, associations, skip_ca, skip_cn, usessl, unencrypted;
    unsigned max_elements; /* -maxelements: (ours, not winrm's): items per Pull */
    /* subscribe's (winrm_sub.c) */
    const char *bookmark, *content_format;
    unsigned long count;
    int read_existing, follow;
    enum cli_format fmt;
};

/* A list of KEY=VALUE pairs (a NULL value: $null). */
struct kv {
    char *store; /* the strings the pairs point into */
    struct wsm_selector *v;
    size_t n;
};

/* ---- the command line (winrm_args.c) ---------------------------------- */

/* Prints "winrm: " fmt (with arg) and the hint to ask for help; returns 2,
 * the exit status of a usage error. */
int wsmd__winrm_usage_error(const char *fmt, const char *arg);
/* Fills c from the arguments; returns -1 to go on, or the exit status
 * (help printed, or a usage error). */
int wsmd__winrm_parse_args(int argc, char **argv, struct cmd *c);
/* The arguments with a {...} the shell split at spaces joined again, into
 * *outc malloc'd strings (args[0] is argv[0]); NULL on allocation failure. */
char **wsmd__winrm_join_braces(int argc, char **argv, int *outc);

/* ---- input (winrm_input.c) --------------------------------------------- */

void wsmd__winrm_kv_free(struct kv *k);
/* {KEY="VALUE";KEY=$null;...} into out; 0, or -1 with the reason printed. */
int wsmd__winrm_parse_hash(const char *text, struct kv *out);
/* RESOURCE[?k=v+k2=v2]: the URI, alias expanded, into uri (n bytes), the
 * selectors into sel; 0, or -1 with the reason printed. */
int wsmd__winrm_parse_resource(const char *arg, char *uri, size_t n, struct kv *sel);
/* The whole file, malloc'd and NUL-terminated; NULL (reason printed). */
char *wsmd__winrm_read_file(const char *path);

/* ---- XML bodies (winrm_xml.c) ----------------------------------------- */

/* <p:ROOT xmlns:p="URI"><p:KEY>VALUE</p:KEY>...</p:ROOT> (create, invoke). */
char *wsmd__winrm_element_from_hash(const char *uri, const char *root, const struct kv *h);
/* xml (an instance from Get) with h's properties changed, into *out;
 * 0, or -1 with the reason printed. */
int wsmd__winrm_apply_hash(const char *xml, const struct kv *h, char **out);
/* -filter:{Object=...;...} of -dialect:association as DSP0227's filter
 * element; NULL with the reason printed. */
char *wsmd__winrm_association_filter(const char *filter, int association_instances,
                                     const char *main_uri);

/* ---- operations (winrm_ops.c) ----------------------------------------- */

/* Prints xml (NULL: nothing) in fmt and frees it; the exit status. */
int wsmd__winrm_print_result(char *xml, enum cli_format fmt);
/* Runs the operation c names on s and prints what comes; the exit status. */
int wsmd__winrm_run(wsm_session *s, const struct cmd *c);

#endif
