/* Types for -format:json: numbers, booleans and arrays where the schema
 * says so, strings otherwise. */
#ifndef WSM_CLI_JSONTYPE_H
#define WSM_CLI_JSONTYPE_H

#include <libxml/tree.h>
#include <stdio.h>

struct cli_jtype {
    const char *cls; /* a class of cimtypes.h: its properties are typed */
    int config;      /* winrm/config: true/false and counts are typed at any depth */
};

/* From the item's element: its name is the class (Win32_Service,
 * StartService_OUTPUT), or its namespace is winrm/config's. */
void cli_jtype_init(struct cli_jtype *t, const xmlNode *root);
/* The kind of property el of t ('s', 'b', 'i', 'r', 'd'; 0 unknown), and
 * whether it is an array (printed as one even with one value). */
char cli_jtype_kind(const struct cli_jtype *t, const xmlNode *el, int *array);
/* Prints leaf n as a value of that kind; 0 if its text does not fit the
 * kind (the caller prints it as before). */
int cli_json_typed_leaf(FILE *f, const xmlNode *n, char kind);
/* s as a JSON string: quoted, '"' and '\\' escaped, control bytes as \u00XX
 * (UTF-8 passes as it is). */
void cli_json_str(FILE *f, const char *s);
/* xml:lang: the envelope's language, not data. */
int cli_json_hidden_attr(const xmlAttr *a);

#endif
