/* Windows-style switches: -name:value, -name value, /name:value. */
#ifndef WSM_CLI_ARGS_H
#define WSM_CLI_ARGS_H

/* If arg is switch `name` (or one of its aliases, '|'-separated, matched
 * case-insensitively), sets *value (NULL when the switch has no ":value")
 * and returns 1. */
int cli_switch(const char *arg, const char *names, const char **value);

#endif
