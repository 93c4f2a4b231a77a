/* libxml2 parser contexts for untrusted text (xmlctxt.h). */
#include "xmlctxt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Past this many names a context's dictionary is dropped with it, so that
 * a long-lived thread does not keep every name it ever parsed. */
#define MAX_DICT_ENTRIES 4096

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void silent_structured(void *ctx, xmlErrorPtr err)
{
    (void)ctx;
    (void)err;
}

/* An entity declaration is refused as its DOCTYPE is. */
static void refuse_entity(void *ctx, const xmlChar *name, int type, const xmlChar *publicId,
                          const xmlChar *systemId, xmlChar *content)
{
    (void)name;
    (void)type;
    (void)publicId;
    (void)systemId;
    (void)content;
    xmlParserCtxtPtr c = ctx;
    c->sax->internalSubset(ctx, NULL, NULL, NULL);
}

static xmlEntityPtr predefined_entity(void *ctx, const xmlChar *name)
{
    /* &amp; and its kind are resolved by the parser itself; anything else
     * has no declaration we would honour. */
    (void)ctx;
    return xmlGetPredefinedEntity(name);
}

void wsm__xmlsax_harden(xmlParserCtxtPtr c, internalSubsetSAXFunc refuse)
{
    xmlSAXHandler *h = c->sax;
    h->internalSubset = refuse;
    h->externalSubset = refuse;
    h->entityDecl = refuse_entity;
    h->getEntity = predefined_entity;
    h->getParameterEntity = NULL;
    h->resolveEntity = NULL;
    h->error = silent;
    h->warning = silent;
    h->fatalError = silent;
    h->serror = silent_structured;
    c->replaceEntities = 0;
    c->loadsubset = 0;
    c->validate = 0;
}

void wsm__xmlsax_only(xmlParserCtxtPtr c, startElementNsSAX2Func start, endElementNsSAX2Func end,
                      charactersSAXFunc text)
{
    xmlSAXHandler *h = c->sax;
    memset(h, 0, sizeof(*h));
    h->initialized = XML_SAX2_MAGIC;
    h->startElementNs = start;
    h->endElementNs = end;
    h->characters = text;
    h->cdataBlock = text;
}

/* One key for all slots: its value is the thread's array of contexts. */
static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void slots_free(void *p)
{
    xmlParserCtxtPtr *s = p;
    for (int i = 0; i < WSM_XMLCTXT_SLOTS; i++)
        if (s[i])
            xmlFreeParserCtxt(s[i]);
    free(s);
}

static void key_make(void)
{
    pthread_key_create(&key, slots_free);
}

static xmlParserCtxtPtr *slots(int make)
{
    pthread_once(&once, key_make);
    xmlParserCtxtPtr *s = pthread_getspecific(key);
    if (s || !make)
        return s;
    s = calloc(WSM_XMLCTXT_SLOTS, sizeof(*s));
    if (s && pthread_setspecific(key, s) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

xmlParserCtxtPtr wsm__xmlctxt_thread(enum wsm_xmlctxt_slot slot, void (*setup)(xmlParserCtxtPtr c))
{
    xmlParserCtxtPtr *s = slots(1);
    if (!s)
        return NULL;
    if (!s[slot]) {
        s[slot] = xmlNewParserCtxt();
        if (s[slot])
            setup(s[slot]);
    }
    return s[slot];
}

void wsm__xmlctxt_done(enum wsm_xmlctxt_slot slot, xmlParserCtxtPtr c)
{
    if (!c->dict || xmlDictSize(c->dict) <= MAX_DICT_ENTRIES)
        return;
    xmlParserCtxtPtr *s = slots(0);
    if (s && s[slot] == c)
        s[slot] = NULL;
    xmlFreeParserCtxt(c);
}

void wsm__xmlctxt_thread_free(enum wsm_xmlctxt_slot slot)
{
    xmlParserCtxtPtr *s = slots(0);
    if (!s)
        return;
    if (s[slot]) {
        xmlFreeParserCtxt(s[slot]);
        s[slot] = NULL;
    }
    for (int i = 0; i < WSM_XMLCTXT_SLOTS; i++)
        if (s[i])
            return;
    /* None left: nothing of this thread's stays allocated (leak checks). */
    pthread_setspecific(key, NULL);
    free(s);
}
