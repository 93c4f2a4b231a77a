/* Authorization: which authenticated user may do what, by local group.
 * Windows' RootSDDL in Linux terms (docs/internals/authz.md).
 *
 * Every operation of the dispatch table (dispatch.c) names the one right
 * it needs; a user holds the rights the policy grants to the user's name
 * or to one of the user's local groups. Policy: the configuration's
 * Allow lines, or, without any, the defaults (root and wsmd-admins: all;
 * wsmd-users: read and config-read; when wsmd is not root: every
 * authenticated user holds all rights). As root, uid 0 always holds all
 * rights here (whether root may log in at all is the authentication
 * layer's AllowRoot). */
#ifndef WSMD_AUTHZ_H
#define WSMD_AUTHZ_H

#include <stddef.h>

#include "wsm/wsm.h"

struct wsmd_server;
struct wsmd_config;
struct wsm_buf;

enum wsmd_right {
    WSMD_RIGHT_SHELL = 1u << 0,        /* open shells, run commands in them */
    WSMD_RIGHT_CREATE = 1u << 1,       /* create processes (Win32_Process.Create) */
    WSMD_RIGHT_READ = 1u << 2,         /* Get, Enumerate, Pull of CIM data */
    WSMD_RIGHT_INVOKE = 1u << 3,       /* other CIM methods, and Put */
    WSMD_RIGHT_CONFIG_READ = 1u << 4,  /* winrm/config: Get, listeners */
    WSMD_RIGHT_CONFIG_WRITE = 1u << 5, /* winrm/config: Put, Create, Delete */
    WSMD_RIGHT_IPMI = 1u << 6,         /* raw IPMI (Microsoft_IPMI.RequestResponse) */
    WSMD_RIGHT_EVENTING = 1u << 7,     /* subscribe to the event log (evsub.c) */
};
#define WSMD_RIGHTS_ALL 0xffu
#define WSMD_RIGHTS_NONE 0u

/* The groups of the defaults. */
#define WSMD_ADMIN_GROUP "wsmd-admins"
#define WSMD_READER_GROUP "wsmd-users"

/* Checks one Allow line ("RIGHT[,RIGHT...] PRINCIPAL..."; see authz.c):
 * WSM_OK, or WSM_ERR_INVALID_ARG with the reason in why. */
enum wsm_err wsmd__authz_check_rule(const char *value, char *why, size_t whylen);

/* The policy of cfg; is_root: wsmd runs as root. */
struct wsmd_authz;
enum wsm_err wsmd__authz_new(const struct wsmd_config *cfg, int is_root, struct wsmd_authz **out);
void wsmd__authz_free(struct wsmd_authz *a);

/* The rights user holds (NULL: anonymous, none). srv->authz NULL: all
 * rights when wsmd is not root, none when it is (fail closed). Looked up
 * from the account database, cached for a few seconds. */
unsigned wsmd__authz_rights(struct wsmd_server *srv, const char *user);

/* "read", "config-write", ... of one right. */
const char *wsmd__authz_right_name(unsigned right);

/* The effective policy as an SDDL string (RootSDDL of winrm/config/service). */
enum wsm_err wsmd__authz_sddl(const struct wsmd_server *srv, struct wsm_buf *o);

#endif
