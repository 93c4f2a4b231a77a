/* The CIM types of the classes wsmd serves, for -format:json (generated at
 * build time by src/providers/cimtypes_gen.c). */
#ifndef WSM_CLI_CIMTYPES_H
#define WSM_CLI_CIMTYPES_H

struct cli_cim_prop {
    const char *cls; /* class name, or METHOD_OUTPUT for a method's reply */
    const char *prop;
    char kind; /* 's' string, 'b' boolean, 'i' integer, 'r' real, 'd' datetime */
    int array;
};

/* Ends with an all-zero entry. */
extern const struct cli_cim_prop cli_cim_props[];

#endif
