/* Helpers of the event source's unit tests (test_evsub*.c): a fixture
 * that runs the handlers as dispatch calls them, and requests (Subscribe,
 * Pull) written as a client would. The fake journal they run over is in
 * evsub_helpers.c: it replaces src/evsrc's reader for these programs. */
#ifndef WSM_TESTS_EVSUB_HELPERS_H
#define WSM_TESTS_EVSUB_HELPERS_H

#include "config.h"
#include "evpush.h"
#include "evsub.h"
#include "forwarder.h"
#include "ns.h"

#define EV "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define QUERY                                                                                      \
    "<QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList>"

struct fixture {
    struct wsmd_server srv;
    struct wsmd_listener lis;
    struct wsm_buf out;
    struct wsm_envelope *env;
    const char *fault;
    char dir[256];
    char id[64], ctx[64];
    struct wsmd_call last; /* the last call (park, settle) */
};

/* The fake journal: readers open now, and one more event (its provider
 * and level) that wakes every reader. */
int open_readers(void);
void append_event(const char *provider, int level);

long long mono(void);
int setup(void **state);
int teardown(void **state);
/* Runs one request as user; header_extra goes into the Header. */
enum wsm_err req(struct fixture *f, const char *user, wsmd_handler h, const char *action,
                 const char *header_extra, const char *body, int resumed, void *resume);
/* The text between open and close in s (both must be there). */
void between(const char *s, const char *open, const char *close, char *out, size_t n);
/* The last reply, NUL-terminated. */
char *reply(struct fixture *f);
/* A Subscribe (Pull mode unless delivery says otherwise): f->id, f->ctx. */
enum wsm_err subscribe(struct fixture *f, const char *user, const char *delivery,
                       const char *extra_body, const char *header_extra);
/* Settles the last reply as the HTTP layer would. */
void settle(struct fixture *f, int delivered);
enum wsm_err pull(struct fixture *f, const char *user, const char *ctx, int max,
                  const char *maxtime);
int count_events(const char *s);
/* An e:Identifier header of f's subscription. */
char *idhdr(struct fixture *f);

#endif
