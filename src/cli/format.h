/* Output formats of the winrm tool: xml, pretty, text (as Windows prints
 * it) and json. */
#ifndef WSM_CLI_FORMAT_H
#define WSM_CLI_FORMAT_H

#include <stddef.h>
#include <stdio.h>

enum cli_format { FMT_TEXT, FMT_XML, FMT_PRETTY, FMT_JSON };

int cli_parse_format(const char *s, enum cli_format *out);

/* Prints the first element of a reply envelope's SOAP Body (Identify).
 * Returns 0, or -1 if xml cannot be parsed. */
int cli_print(FILE *f, const char *xml, enum cli_format fmt);

/* Prints one standalone element (a Get, Put or Invoke payload):
 *   xml     as it is
 *   pretty  indented
 *   text    Windows' layout: the element's name, then "    Prop = value"
 *           lines, nested elements indented, "null" for xsi:nil, a
 *           repeated property (an array) as repeated lines, an element
 *           with a Name attribute (a selector) as "Selector: Name = value"
 *   json    {"Name": {...}}: repeated names become arrays, nil null,
 *           attributes "@name" members
 * Returns 0, or -1 if xml cannot be parsed (nothing is printed). */
int cli_print_item(FILE *f, const char *xml, enum cli_format fmt);

/* A sequence of items (enumerate), as winrm prints it: xml and pretty
 * inside <wsman:Results xmlns:wsman=".../wsman/results">, text items one
 * after another with a blank line between them, json a JSON array. */
void cli_results_begin(FILE *f, enum cli_format fmt);
/* index counts from 0. Returns as cli_print_item. */
int cli_results_item(FILE *f, const char *xml, enum cli_format fmt, size_t index);
void cli_results_end(FILE *f, enum cli_format fmt);

/* An error as winrm reports it:
 *   WSManFault
 *       Message = MESSAGE
 *
 *   Error number:  -2144108387 0x80338029
 *   MESSAGE
 * (the WSManFault part in the chosen format). code is the WSManFault
 * code; a Win32 code (below 0x10000) is shown as its HRESULT, as COM
 * does. */
void cli_print_fault(FILE *f, enum cli_format fmt, unsigned long code, const char *message);
/* s as XML text or attribute value (<, >, &, " escaped). */
void cli_xml_text(FILE *f, const char *s);

#endif
