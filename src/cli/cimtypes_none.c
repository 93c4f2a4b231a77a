/* A build without the CIM providers: no types, -format:json prints text. */
#include "cimtypes.h"

const struct cli_cim_prop cli_cim_props[] = {{0, 0, 0, 0}};
