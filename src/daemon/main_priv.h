/* Between main.c (the service's start) and usercmd.c (`wsmd user`), the
 * two files of the wsmd program itself (not of wsmdcore). */
#ifndef WSMD_MAIN_PRIV_H
#define WSMD_MAIN_PRIV_H

#include <stdio.h>

/* The usage text (man/wsmd.txt) on f; 2 for stderr (an error), else 0. */
int wsmd__main_usage(FILE *f);
/* `wsmd user ARGS...` (argv: what follows "user"); the exit status. */
int wsmd__user_cmd(int argc, char **argv);

#endif
