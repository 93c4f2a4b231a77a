/* Between the files of libwsm's WinRS client: shell_client.c (the shell's
 * operations and Receive's entry point), shell_rx.c (Receive replies: the
 * streaming SAX path and the tree path it falls back to), shell_b64.c (the
 * streams' strict base64 decoder) and shell_ahead.c (Receive ahead). */
#ifndef WSM_SHELL_CLIENT_PRIV_H
#define WSM_SHELL_CLIENT_PRIV_H

#include <stddef.h>

#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "wsm/wsm.h"

#define SHELL_RESOURCE WSM_NS_SHELL "/cmd"
#define ACTION_CREATE WSM_NS_WSXF "/Create"
#define ACTION_DELETE WSM_NS_WSXF "/Delete"
#define ACTION_COMMAND WSM_NS_SHELL "/Command"
#define ACTION_SEND WSM_NS_SHELL "/Send"
#define ACTION_RECEIVE WSM_NS_SHELL "/Receive"
#define ACTION_SIGNAL WSM_NS_SHELL "/Signal"
#define SIGNAL_PREFIX WSM_NS_SHELL "/signal/"
/* WSManFault code of a Receive that saw no output within OperationTimeout
 * (ERROR_WSMAN_OPERATION_TIMEDOUT). */
#define FAULT_TIMED_OUT 2150858793UL

/* Replies fetched ahead that may wait at once (the one the caller is
 * consuming included). */
#define AHEAD_SLOTS 3
/* The size of a reply after which the next ones are fetched ahead. */
#define AHEAD_MIN_REPLY (64 * 1024)
/* Compressed replies carry several times their size of output. */
#define AHEAD_MIN(sh) ((sh)->xpress ? AHEAD_MIN_REPLY / 8 : AHEAD_MIN_REPLY)

struct rx;
struct ahead;

struct wsm_shell {
    wsm_session *s;
    char *id;
    struct rx *rx;       /* Receive parsing state, made on first use */
    struct ahead *ahead; /* the fetcher of Receive replies, if started */
    int xpress;          /* CompressionType xpress: Xpress blocks both ways */
};

/* Appends to a buffer; the first error sticks in e and later calls do
 * nothing, so a message is written as a plain sequence of calls. */
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)

struct b64s {
    unsigned char carry[4]; /* a quantum split between two pieces */
    int ncarry;
    int ended; /* a padded quantum was seen: nothing may follow */
};

int wsm__shell_ends_with(const char *s, const char *suffix);
void wsm__shell_build_receive(struct wsm_buf *b, wsm_session *s, const char *shell_id,
                              const char *command_id, const char *msgid, enum wsm_err *err);
size_t wsm__shell_receive_cap(const wsm_session *s);
/* The decoder's tables, made once (any thread may call it). */
void wsm__shell_b64_init(void);
int wsm__shell_b64_feed(struct b64s *st, const unsigned char *s, size_t n, struct wsm_buf *out);
struct wsm_buf *wsm__shell_rx_reply(wsm_shell *sh);
void wsm__shell_rx_free(struct rx *rx);
enum wsm_err wsm__shell_receive_reply(wsm_shell *sh, const char *command_id, struct wsm_receive *r,
                                      const struct wsm_buf *body, long status, const char *msgid);
/* The tree path alone, on a checked reply (what the streaming pass falls
 * back to; the fuzz target compares the two). */
enum wsm_err wsm__shell_receive_tree(wsm_shell *sh, struct wsm_envelope *env,
                                     const char *command_id, struct wsm_receive *r);
void wsm__shell_ahead_free(wsm_shell *sh);
void wsm__shell_ahead_start(wsm_shell *sh, const char *command_id);
int wsm__shell_ahead_take(wsm_shell *sh, const char *command_id, struct wsm_receive *r,
                          enum wsm_err *e);

#endif
