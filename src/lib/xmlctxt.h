/* libxml2 parser contexts for untrusted text, shared by every parser of
 * the project: the hooks that refuse a DTD or an entity declaration and
 * keep libxml2 quiet (wsm__xmlsax_harden), and one context per thread and
 * per parser, reset for each document (wsm__xmlctxt_thread): making a
 * context costs more than parsing a small envelope. */
#ifndef WSM_XMLCTXT_H
#define WSM_XMLCTXT_H

#include <libxml/parser.h>

/* Which parser a thread's context is for (each keeps its own callbacks). */
enum wsm_xmlctxt_slot {
    WSM_XMLCTXT_ENVELOPE, /* envelope.c: SOAP envelopes, a tree */
    WSM_XMLCTXT_EVENTS,   /* src/collector/events.c: SAX only */
    WSM_XMLCTXT_SLOTS
};

/* A DOCTYPE (internal or external subset) and an entity declaration both
 * call refuse, which marks the caller's state (ctx->_private) and stops
 * the parser; entities resolve to the predefined five only; errors and
 * warnings print nothing (the caller reads wellFormed); no DTD is loaded,
 * validated or substituted. */
void wsm__xmlsax_harden(xmlParserCtxtPtr c, internalSubsetSAXFunc refuse);

/* No document is built: only start, end and text (characters and CDATA)
 * run, every other callback is cleared (then wsm__xmlsax_harden). */
void wsm__xmlsax_only(xmlParserCtxtPtr c, startElementNsSAX2Func start, endElementNsSAX2Func end,
                      charactersSAXFunc text);

/* This thread's context for slot, made on first use with setup (which sets
 * the parser's callbacks and calls wsm__xmlsax_harden); NULL: out of
 * memory. After each document, wsm__xmlctxt_done: the context is dropped
 * when its dictionary of names grew past 4,096 entries. */
xmlParserCtxtPtr wsm__xmlctxt_thread(enum wsm_xmlctxt_slot slot, void (*setup)(xmlParserCtxtPtr c));
void wsm__xmlctxt_done(enum wsm_xmlctxt_slot slot, xmlParserCtxtPtr c);
/* Frees this thread's context for slot now (threads that end free theirs). */
void wsm__xmlctxt_thread_free(enum wsm_xmlctxt_slot slot);

#endif
