/* Windows' order, for the provider tests: WMI gives an instance's
 * properties sorted by name, case ignored, and the Win32 tables of every
 * family list them so. Include after cmocka.h and cim.h. */
#ifndef WSMD_TEST_WMIORDER_H
#define WSMD_TEST_WMIORDER_H

#include <string.h>
#include <strings.h>

static inline void check_wmi_order(const struct cim_class *const *family)
{
    for (const struct cim_class *const *c = family; *c; c++) {
        if (strncmp((*c)->name, "Win32_", 6))
            continue;
        for (size_t k = 1; k < (*c)->nprops; k++)
            if (strcasecmp((*c)->props[k - 1].name, (*c)->props[k].name) >= 0)
                fail_msg("%s: %s before %s", (*c)->name, (*c)->props[k - 1].name,
                         (*c)->props[k].name);
    }
}

#endif
