/* Between the files of the subscriptions module (subscription.c, subelem.c,
 * subxml.c, subload.c, subwrite.c); nothing else includes it. */
#ifndef WSMD_SUB_PRIV_H
#define WSMD_SUB_PRIV_H

#include <libxml/tree.h>

#include "subscription.h"

/* printf into err (n bytes), folded to one line. */
void wsmd__sub_seterr(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* UTF-16 (after its BOM; le: little-endian) appended to out as UTF-8; -1 on
 * an odd length or a lone surrogate. */
int wsmd__sub_utf16(const unsigned char *p, size_t len, int le, struct wsm_buf *out);
int wsmd__sub_contains(const char *buf, size_t len, const char *needle);
/* A document (enc forces the encoding, or NULL); NULL with err set when it
 * is not well-formed or has a DOCTYPE (*dtd then 1). "what" names it in err. */
xmlDocPtr wsmd__sub_read_doc(const char *buf, size_t len, const char *enc, const char *what,
                             int *dtd, char *err, size_t errlen);
/* Checks s->query and fills s->query_xml and s->nchannels; -1 with err. */
int wsmd__sub_check_query(struct wsmd_sub *s, char *err, size_t errlen);
/* The element n serialized, malloc'd (NULL: out of memory). */
char *wsmd__sub_dump(xmlDocPtr doc, xmlNodePtr n);
/* Fills s->version from the parameters a source sees. */
void wsmd__sub_version(struct wsmd_sub *s);

/* subsrc.c: EventSources, CommonUserName, CommonPassword, CredentialsType.
 * 1: n was one of them and is read; 0: not one of them; -1 with err. */
int wsmd__sub_source_element(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen);
void wsmd__sub_sources_free(struct wsmd_sub *s);
/* The same elements back, passwords left out. */
enum wsm_err wsmd__sub_write_sources(struct wsm_buf *b, const struct wsmd_sub *s);

/* subelem.c: the elements of subscription.c's file that hold more than a
 * text. 0 read; -1 with err. What Delivery's Batching and Heartbeat say is
 * kept in *d, applied once the ConfigurationMode is known. */
struct delivery {
    int have_items, have_latency, have_hb;
    unsigned long items, latency, hb;
};
int wsmd__sub_read_delivery(struct wsmd_sub *s, const xmlNode *n, struct delivery *d, char *err,
                            size_t errlen);
int wsmd__sub_read_nondomain(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen);
/* One element of wsmd's namespace (unknown ones are refused). */
int wsmd__sub_read_ext(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen);

/* subread.c: the readers of subscription.c. */
char *wsmd__sub_trimdup(const char *s);
char *wsmd__sub_node_text(const xmlNode *n);
char *wsmd__sub_attr_text(const xmlNode *n, const char *name);
int wsmd__sub_is_el(const xmlNode *n, const char *ns, const char *name);
int wsmd__sub_parse_bool(const char *t, int *out);
int wsmd__sub_parse_num(const char *t, unsigned long min, unsigned long max, unsigned long *out);
int wsmd__sub_add_tokens(char ***v, size_t *n, const char *text);
int wsmd__sub_join_token(char **dst, const char *tok);
int wsmd__sub_valid_id(const char *id);
int wsmd__sub_valid_log_file(const char *t);
int wsmd__sub_valid_locale(const char *t);
char *wsmd__sub_thumbprint(const char *t);
int wsmd__sub_read_list(const xmlNode *list, const char *item, int thumbs, char **dst, char *err,
                        size_t errlen);

#endif
