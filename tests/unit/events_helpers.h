/* Helpers of the collector's event tests (test_events*.c): two real
 * Windows events, delivery envelopes made of events, UTF-16 written by the
 * test's own encoder, and a batch run as the delivery handler runs it. */
#ifndef WSM_TESTS_EVENTS_HELPERS_H
#define WSM_TESTS_EVENTS_HELPERS_H

#include <stddef.h>

#include "envelope.h"
#include "events.h"

#define W "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"

/* A Security 4624 (logon) with its RenderingInfo, and a System 7036. */
extern const char *EV_4624;
extern const char *EV_7036;

struct batch {
    struct wsm_envelope *env;
    struct wsm_arena arena;
    struct wsmd_event *ev;
    size_t n;
};

/* UTF-8 -> UTF-16 (the test's own encoder); lone surrogates can be given
 * as the sequences ED A0..BF xx, which are written as the unit itself. */
size_t to_utf16(const char *s, unsigned char *o, int be, int bom);
/* A delivery envelope holding the given events as CDATA, UTF-8 (the
 * declaration says UTF-16, as Windows writes it before encoding). */
char *envelope_of(const char **evs, size_t n);
/* The envelope's declaration made to say UTF-8 (same length), so that it
 * parses without prepare. */
void as_utf8(char *u8);
/* prepare -> envelope parse -> events parse, as the delivery handler does */
void run_batch(const void *body, size_t len, struct batch *b, size_t *nfixed);
void batch_free(struct batch *b);
/* At the end of main: this thread's cached parser contexts, libxml2. */
void events_tests_done(void);

#endif
