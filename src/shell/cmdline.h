/* Command lines run without a shell (WINRS_SKIP_CMD_SHELL): cmdline.c. */
#ifndef WSMD_SHELL_CMDLINE_H
#define WSMD_SHELL_CMDLINE_H

#include <stddef.h>

/* Splits line as a Windows program's runtime splits its command line:
 * blanks separate arguments; "..." groups (the quotes go); inside quotes
 * "" is one literal quote; 2n backslashes before a quote give n
 * backslashes (the quote groups), 2n+1 give n and a literal quote;
 * backslashes elsewhere are literal. No variable, glob or redirection is
 * interpreted. One malloc'd block, NULL-terminated; NULL (and *argc 0)
 * for a blank line, NULL with *argc > 0 when out of memory. */
char **shell__split_cmdline(const char *line, size_t *argc);

/* Where execve should look for prog: prog itself when it has a '/', else
 * each entry of the PATH of envp (def_path without one) followed by
 * "/prog". One malloc'd block, NULL-terminated; NULL for an empty prog or
 * no memory. */
char **shell__exec_paths(const char *prog, char *const *envp, const char *def_path);

#endif
