/* wsmd's side of IPMI (docs/internals/ipmi.md): the IpmiHosts file, the
 * helper process (wsmd-ipmi, GPL-3: started, never linked), the client
 * that talks to it, and the classes built on its answers (ipmi.c). */
#ifndef WSMD_IPMI_H
#define WSMD_IPMI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipmiframe.h"
#include "wsm/wsm.h"

/* ---- IpmiHosts (ipmihosts.c) ------------------------------------------ */

struct ipmi_hosts {
    struct ipmi_bmc *b;
    size_t n;
};

/* One BMC a line: NAME HOST[:PORT] USER PASSWORD [cipher=N]
 * [workaround=FLAG,...] [privilege=user|operator|admin] [timeout=MS];
 * '#' starts a comment. Errors: WSM_ERR_INVALID_ARG with "line N: why"
 * in err. */
enum wsm_err wsmd__ipmi_hosts_parse(const char *text, size_t len, struct ipmi_hosts *out, char *err,
                                    size_t errn);
/* Reads path: a regular file owned by root, wsmd's own account or owner
 * (the network process's account; (uid_t)-1: none) that no other account
 * may read or write (mode 0600 or 0400), else refused with why in err. */
enum wsm_err wsmd__ipmi_hosts_load(const char *path, uid_t owner, struct ipmi_hosts *out, char *err,
                                   size_t errn);
/* Wipes the passwords and frees. */
void wsmd__ipmi_hosts_clear(struct ipmi_hosts *h);

/* ---- the helper process (ipmispawn.c) --------------------------------- */

struct wsmd_config;
struct ps_msg;

/* At start-up, in the process that reads the configuration (the monitor
 * when separated): loads IpmiHosts when set. Errors go to stderr. */
enum wsm_err wsmd__ipmi_setup(const struct wsmd_config *cfg);
/* Starts wsmd-ipmi (as the account uid/gid when drop) with the loaded
 * hosts; *fd is wsmd's end of its socket, the configuration frame
 * already written. A helper started before by this process is ended
 * first (the caller asks again only when the old one is dead or hung). */
enum wsm_err wsmd__ipmi_spawn(int *fd, int drop, uid_t uid, gid_t gid);
/* Ends (SIGTERM, then SIGKILL after 2 s) and reaps the helper. */
void wsmd__ipmi_stop(void);
/* Wipes the loaded hosts (the network process, forked from the monitor,
 * must not keep the passwords). */
void wsmd__ipmi_forget(void);
/* The monitor's side of PS_IPMI_CONNECT: a new helper, its socket in a. */
enum wsm_err wsmd__ipmi_monitor_connect(struct ps_msg *q, struct ps_msg *a);

/* ---- the client (ipmiclient.c) ---------------------------------------- */

/* How the client gets a socket to a (new) helper: 0 and *fd, or an
 * error. NULL: wsmd__ipmi_spawn here (a single process). */
void wsmd__ipmi_set_connector(enum wsm_err (*connect)(int *fd));

struct ipmi_reply {
    unsigned char *buf; /* the whole frame (free with wsmd__ipmi_reply_free) */
    size_t n;
    struct ipmi_frame f;
};
void wsmd__ipmi_reply_free(struct ipmi_reply *r);

/* A request in flight: sent at once, answered by wait; several may be
 * in flight (one per BMC), so slow BMCs are waited for side by side. */
struct ipmi_ticket {
    uint32_t id;
    int sent;
};
enum wsm_err wsmd__ipmi_send(uint16_t op, const char *bmc, struct ipmi_ticket *t);
/* The same with the request's own fields, written by fields(w, arg). */
enum wsm_err wsmd__ipmi_send_with(uint16_t op, const char *bmc,
                                  void (*fields)(struct ipmi_wbuf *, const void *), const void *arg,
                                  struct ipmi_ticket *t);
/* One request to one BMC, waited for: WSM_OK with r (an OK status), or
 * the fault (its message set) of the helper or the BMC. */
enum wsm_err wsmd__ipmi_call(uint16_t op, const char *bmc,
                             void (*fields)(struct ipmi_wbuf *, const void *), const void *arg,
                             struct ipmi_reply *r);
/* Waits up to the client's timeout. WSM_OK with r filled (r->f.status
 * may be an error of the helper's: wsmd__ipmi_status_err), or
 * WSM_ERR_TIMED_OUT / WSM_ERR_INTERNAL (the helper died), with the
 * fault's message set (cim_fault_message). */
enum wsm_err wsmd__ipmi_wait(struct ipmi_ticket *t, struct ipmi_reply *r);
/* Drops a ticket without waiting (its reply is thrown away). */
void wsmd__ipmi_cancel(struct ipmi_ticket *t);
/* The wsm error for a helper's error reply, its message set as the
 * fault's (cim_fault_message). */
enum wsm_err wsmd__ipmi_status_err(const struct ipmi_reply *r);
/* How long a request may take before it is a fault and the helper is
 * taken for hung: 30 s, longer than any BMC's session timeout (60 s at
 * most); $WSMD_IPMI_TIMEOUT_MS in tests. */
/* Closes the connection (wsmd-ipmi then closes its sessions and ends). */
void wsmd__ipmi_shutdown(void);

/* ---- which BMCs a request reaches (ipmi.c) ---------------------------- */

struct cim_ctx;
struct cim_instance;
struct wsm_arena;
struct ipmi_scope;
/* Sends op to the BMC only names, or the one the Enumerate's SystemName
 * selector names (ctx->scope), or every configured BMC (none configured:
 * an empty scope). */
enum wsm_err wsmd__ipmi_scope_open(const struct cim_ctx *ctx, uint16_t op, const char *only,
                                   struct ipmi_scope **out);
/* The next BMC's reply (r, an OK status), its name in *bmc; NOT_FOUND at
 * the end. Scoped, a BMC's failure is returned; unscoped, it is logged and
 * skipped (its message taken into a). */
enum wsm_err wsmd__ipmi_scope_next(struct ipmi_scope *sc, struct wsm_arena *a, const char **bmc,
                                   struct ipmi_reply *r);
void wsmd__ipmi_scope_free(struct ipmi_scope *sc);

/* One enumeration's walk over the BMCs' replies and their records (the
 * sensors, the SEL entries): what every IPMI class's open/next/close and
 * Get share (ipmiscope.c). kind and wmi are the class's own flags. */
struct ipmi_walk {
    int kind, wmi;
    struct ipmi_scope *sc;
    const char *bmc; /* of the reply at hand */
    struct ipmi_reply r;
    struct ipmi_rd rd; /* its records */
    int have;          /* rd still has records to give */
};
enum wsm_err wsmd__ipmi_walk_open(const struct cim_ctx *ctx, uint16_t op, int kind, int wmi,
                                  const char *only, struct ipmi_walk **out);
/* The next BMC's reply in w->r (w->bmc its name): NOT_FOUND at the end. */
enum wsm_err wsmd__ipmi_walk_reply(struct ipmi_walk *w, struct wsm_arena *a);
/* The next record of the replies (tag IPMI_T_RECORD) in *f, moving to the
 * next BMC's reply when one is used up: NOT_FOUND at the end. */
enum wsm_err wsmd__ipmi_walk_record(struct ipmi_walk *w, struct wsm_arena *a, struct ipmi_field *f);
void wsmd__ipmi_walk_free(struct ipmi_walk *w);
/* Get by walking: next until match says yes (the instance in inst), each
 * instance cleared first. NOT_FOUND when none matches. */
enum wsm_err wsmd__ipmi_walk_find(struct ipmi_walk *w, struct cim_instance *inst,
                                  enum wsm_err (*next)(void *, struct cim_instance *),
                                  int (*match)(const struct cim_instance *, const void *),
                                  const void *arg);

#endif
