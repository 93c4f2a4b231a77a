/* winrm/config/listener Create and Delete, winrm/config/service/certmapping
 * Get, Enumerate, Create and Delete: applied to the running service and
 * written to the configuration file (docs/internals/winrm-config.md,
 * "Listeners and certificate mappings changed live"). */
#ifndef WSMD_CFGLISTEN_H
#define WSMD_CFGLISTEN_H

#include <stddef.h>

#include "server.h"

struct ps_msg;

#define WSMD_URI_CERTMAPPING "http://schemas.microsoft.com/wbem/wsman/1/config/service/certmapping"

/* The file given with wsmd -c (made absolute); NULL: changes are live only. */
void wsmd__cfgl_set_file(const char *path);
/* Serializes changes; guards cfg->cert_mappings (read by the monitor's
 * PS_CERT_USER while a change runs). */
void wsmd__cfgl_lock(void);
void wsmd__cfgl_unlock(void);

int wsmd__cfgl_is_certmapping(const char *resource_uri);

/* Handlers (dispatch.c; the right config-write is checked there). */
enum wsm_err wsmd__cfgl_listener_create(struct wsmd_call *call);
enum wsm_err wsmd__cfgl_listener_delete(struct wsmd_call *call);
enum wsm_err wsmd__cfgl_certmap_get(struct wsmd_call *call);
enum wsm_err wsmd__cfgl_certmap_enumerate(struct wsmd_call *call);
enum wsm_err wsmd__cfgl_certmap_create(struct wsmd_call *call);
enum wsm_err wsmd__cfgl_certmap_delete(struct wsmd_call *call);

/* The monitor's side of PS_CFG_LISTEN and PS_CFG_CERTMAP (monitor.c). */
enum wsm_err wsmd__cfgl_monitor_listen(struct wsmd_server *srv, struct ps_msg *q, struct ps_msg *a);
enum wsm_err wsmd__cfgl_monitor_certmap(struct wsmd_server *srv, struct ps_msg *q,
                                        struct ps_msg *a);

/* ---- pure parts, exposed for the unit tests and the fuzz target ---- */

/* Windows' listener keys to a Listen URL: Address "*" (0.0.0.0),
 * "IP:a.b.c.d" or "IP:[v6]" (brackets optional), Transport HTTP or HTTPS
 * (any case), port 1..65535. WSM_ERR_INVALID_SELECTORS for bad keys,
 * WSM_ERR_INVALID_ARG for a bad port. */
enum wsm_err wsmd__cfgl_listener_url(const char *address, const char *transport, long port,
                                     char *url, size_t n);
/* 1 if a listener may be created on port over WS-Management: 80, 443, or
 * 1024..65535 (never another privileged port, whatever asks). */
int wsmd__cfgl_port_allowed(long port);
/* The configuration text with "Key = value" lines removed where key
 * matches and same(value, remove) says so (remove NULL: none), then
 * "Key = add" appended (add NULL: none). Every other line is kept as it
 * is. *out is malloc'd; *removed counts the lines taken out. */
enum wsm_err wsmd__cfgl_edit_text(const char *text, const char *key, const char *add,
                                  const char *remove, int (*same)(const char *, const char *),
                                  char **out, unsigned *removed);
/* Same listener (address, port, transport) / same mapping (Issuer and
 * Subject) for two values of Listen / CertMapping lines. */
int wsmd__cfgl_same_listen(const char *a, const char *b);
int wsmd__cfgl_same_certmap(const char *a, const char *b);

#endif
