/* winrm quickconfig (quickconfig.c). */
#ifndef WINRM_QUICKCONFIG_H
#define WINRM_QUICKCONFIG_H

/* argv as winrm's (argv[0] the program, "quickconfig" or "qc" among the
 * arguments); winrm's exit status. */
int winrm_quickconfig(int argc, char **argv);
/* Its help text (`winrm quickconfig -?`, `winrm help quickconfig`). */
void winrm_quickconfig_help(void);

#endif
