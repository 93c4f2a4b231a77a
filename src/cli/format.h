/* Output formats of the winrm tool: xml, pretty, text (as Windows prints
 * it) and json. */
#ifndef WSM_CLI_FORMAT_H
#define WSM_CLI_FORMAT_H

#include <stdio.h>

enum cli_format { FMT_TEXT, FMT_XML, FMT_PRETTY, FMT_JSON };

int cli_parse_format(const char *s, enum cli_format *out);
/* Prints the first element of the reply's SOAP Body (or the whole
 * envelope for FMT_XML). Returns 0, or -1 if xml cannot be parsed. */
int cli_print(FILE *f, const char *xml, enum cli_format fmt);

#endif
