/* WQL: the subset of WMI's query language that Enumerate filters use
 * (w:Filter Dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL").
 *
 *   SELECT <* | prop[, prop...]> FROM <class> [WHERE <expr>]
 *
 * expr: comparisons  prop op literal  or  literal op prop, with op one of
 * = <> != < > <= >=;  prop [NOT] LIKE 'pattern';  prop IS [NOT] NULL;
 * combined with NOT, AND, OR (that precedence, tightest first) and
 * parentheses. Literals: 'single' or "double" quoted strings (escapes
 * \\ \' \"), integers (decimal, optionally negative), reals (1.5, -2e3),
 * TRUE, FALSE, NULL. Keywords and property names are case-insensitive.
 * Two properties cannot be compared with each other (as in WMI).
 *
 * Semantics, decided by the type of the property in the class:
 *  - integers (uint8..sint64) compare numerically; values and literals
 *    are held as sign and 64-bit magnitude, so uint64 up to 2^64-1 and
 *    sint64 down to -2^63 are exact; a real literal against an integer
 *    property compares as long double. Reals compare as double. Booleans
 *    compare as false < true; the literal is TRUE/FALSE, 'true'/'false'
 *    or 0/1. Strings compare case-insensitively (ASCII folding, byte
 *    order otherwise); datetimes compare as text (ISO 8601 sorts).
 *  - A string literal against a numeric or boolean property must parse as
 *    that type (ProcessId = '4' is fine, ProcessId = 'x' is a bind error);
 *    a number or TRUE/FALSE against a string or datetime property is a
 *    bind error.
 *  - LIKE works on the value's text whatever its type: % any run, _ one
 *    character (UTF-8 code point), [abc] [a-z] [^a-z] one character of
 *    (not of) a set; ASCII case-insensitive. [%] [_] [[] match literally.
 *  - NULL: prop = NULL means prop IS NULL and prop <> NULL (or !=) means
 *    IS NOT NULL; other operators with NULL are rejected. Any comparison
 *    or LIKE on a NULL value is false. Logic is two-valued: NOT of a false
 *    comparison is true, so NOT (Name = 'x') holds when Name is NULL.
 *  - A value that does not parse as its property's type (a provider bug)
 *    makes the comparison false, like NULL.
 *  - Arrays: a comparison or LIKE is true if any element satisfies it
 *    (so Tags <> 'a' holds when some element differs); an empty array
 *    matches nothing; IS NULL is true only for the NULL array
 *    (n == 0, items == NULL). NULL elements are skipped.
 *
 * Hard limits (WSM_ERR_INVALID_ARG beyond them): text <= 8192 bytes,
 * <= 64 select items, <= 32 levels of parentheses / NOT, <= 256
 * expression nodes.
 *
 * A query is immutable after wql_bind: wql_match and wql_selects may be
 * called from several threads at once. Not locale-dependent as long as
 * LC_NUMERIC is "C" (reals go through strtod).
 */
#ifndef WSMD_WQL_H
#define WSMD_WQL_H

#include <stddef.h>

#include "cim.h"
#include "wsm/wsm.h"

#define WQL_MAX_TEXT 8192
#define WQL_MAX_SELECT 64
#define WQL_MAX_DEPTH 32
#define WQL_MAX_NODES 256
#define WQL_MAX_LIKE 256 /* bytes of one LIKE pattern */

struct wql_query;

/* Parses SELECT <* | prop[, prop...]> FROM <class> [WHERE <expr>].
 * Keywords and property names are case-insensitive. On success *out is
 * the query (free with wql_free). On a syntax error or a limit exceeded
 * returns WSM_ERR_INVALID_ARG, sets *out to NULL and writes a short
 * English reason with the 1-based character position to err (errlen
 * bytes, always NUL-terminated; err may be NULL). WSM_ERR_NOMEM if
 * memory runs out. */
enum wsm_err wql_parse(const char *text, struct wql_query **out, char *err, size_t errlen);

/* Frees a query; NULL is a no-op. */
void wql_free(struct wql_query *q);

/* The class after FROM, as written. */
const char *wql_class_name(const struct wql_query *q);

/* Number of SELECT items; 0 means *. */
size_t wql_select_count(const struct wql_query *q);
/* The i-th SELECT item as written (NULL if i is out of range). */
const char *wql_select_name(const struct wql_query *q, size_t i);

/* Resolves property names against cls (case-insensitively over
 * cls->props): an unknown property in SELECT or WHERE, or a literal that
 * does not fit its property's type, is WSM_ERR_INVALID_ARG with a reason
 * in err. Does not compare the FROM class with cls->name (the caller maps
 * names such as Win32_X / CIM_X). Must be called, successfully, before
 * wql_match and wql_selects; may be called again for another class. cls
 * must outlive the query's use. */
enum wsm_err wql_bind(struct wql_query *q, const struct cim_class *cls, char *err, size_t errlen);

/* 1 if inst (an instance of the bound class) satisfies the WHERE clause,
 * or there is none; else 0. 0 if the query is not bound. */
int wql_match(const struct wql_query *q, const struct cim_instance *inst);

/* 1 if property prop_index (an index into the bound class's props) is
 * to be returned: always for SELECT *, and always for key properties
 * (WMI keeps keys for the EPR); else 1 only if it is in the SELECT list.
 * 0 for an index out of range or an unbound query. */
int wql_selects(const struct wql_query *q, size_t prop_index);

#endif
