/* winrm's help texts (help.c): the usage, `winrm help TOPIC`, `winrm
 * helpmsg CODE`. Each returns winrm's exit status. */
#ifndef WINRM_HELP_H
#define WINRM_HELP_H

#include <stdio.h>

void winrm_print_usage(FILE *f);
/* topic NULL: the usage, on stdout. An unknown topic: 1. */
int winrm_help(const char *topic);
/* A code winrm cannot read: 2; one without a message: 1. */
int winrm_helpmsg(const char *code);

#endif
