/* Windows switches that winrm and winrs refuse with a reason (switches.c). */
#ifndef WSMD_CLI_SWITCHES_H
#define WSMD_CLI_SWITCHES_H

/* tool: "winrm" or "winrs". The reason arg (a switch such as -ad) is not
 * done here, or NULL when it is not one of Windows' refused switches. */
const char *cli_refused_switch(const char *tool, const char *arg);
/* A Windows switch that needs nothing done (winrm -encoding:utf-8). */
int cli_switch_accepted(const char *tool, const char *arg);

#endif
