#include <string.h>
#include <strings.h>

#include "cim.h"

#define DMTF_PREFIX "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
#define WMI_PREFIX "http://schemas.microsoft.com/wbem/wsman/1/wmi/"

/* Each provider family exports a NULL-terminated list of its classes.
 * The references are weak so that a build may leave a family out (a
 * platform without it): its list then reads as NULL. */
#define FAMILY(n) extern const struct cim_class *const n[] __attribute__((weak))
FAMILY(cim_family_os);
FAMILY(cim_family_storage);
FAMILY(cim_family_net);
FAMILY(cim_family_process);
FAMILY(cim_family_service);
FAMILY(cim_family_synthetic);
FAMILY(cim_family_ipmi);
/* Windows' IPMI provider's classes (NumericSensor, Sensor...) live in
 * the root/hardware namespace, and only there. */
FAMILY(cim_family_hardware);
/* The DMTF form of root/hardware classes whose name the host's own
 * classes hold in root/cimv2 (CIM_ComputerSystem: the host there, the
 * BMC-managed systems here): reached only with __cimnamespace=root/hardware,
 * so they are not in families[] (cim_find_class never finds them). */
FAMILY(cim_family_hardware_dmtf);
/* Windows' root/wmi namespace (Microsoft_IPMI, raw IPMI). */
FAMILY(cim_family_rootwmi);

static const struct cim_class *const *const families[] = {
    cim_family_os,      cim_family_storage,  cim_family_net,
    cim_family_process, cim_family_service,  cim_family_synthetic,
    cim_family_ipmi,    cim_family_hardware, cim_family_rootwmi,
};

static int in_family(const struct cim_class *const *f, const struct cim_class *c)
{
    for (; f && *f; f++)
        if (*f == c)
            return 1;
    return 0;
}

int cim_class_is_hardware(const struct cim_class *c)
{
    for (const struct cim_class *const *h = cim_family_hardware; h && *h; h++)
        if (*h == c)
            return 1;
    return 0;
}

int cim_class_is_ipmi(const struct cim_class *c)
{
    return c && (in_family(cim_family_ipmi, c) || in_family(cim_family_hardware, c) ||
                 in_family(cim_family_hardware_dmtf, c));
}

const char *cim_class_namespace(const struct cim_class *c)
{
    if (c && in_family(cim_family_rootwmi, c))
        return "root/wmi";
    return c && (cim_class_is_hardware(c) || in_family(cim_family_hardware_dmtf, c))
               ? "root/hardware"
               : "root/cimv2";
}

const char *cim_uri_prefix_wmi_for(const struct cim_class *c)
{
    if (c && in_family(cim_family_rootwmi, c))
        return WMI_PREFIX "root/wmi/";
    return c && cim_class_is_hardware(c) ? WMI_PREFIX "root/hardware/" : WMI_PREFIX "root/cimv2/";
}

const struct cim_class *cim_class_for_uri_ns(const char *uri, const char *ns)
{
    if (uri && ns && !strcasecmp(ns, "root/hardware") &&
        !strncasecmp(uri, DMTF_PREFIX, strlen(DMTF_PREFIX)))
        for (const struct cim_class *const *c = cim_family_hardware_dmtf; c && *c; c++)
            if (!strcasecmp((*c)->name, uri + strlen(DMTF_PREFIX)))
                return *c;
    return cim_class_for_uri(uri);
}

const struct cim_class *cim_find_class(const char *name)
{
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
        for (const struct cim_class *const *c = families[f]; c && *c; c++)
            if (strcasecmp((*c)->name, name) == 0)
                return *c;
    return NULL;
}

size_t cim_class_count(void)
{
    size_t n = 0;
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
        for (const struct cim_class *const *c = families[f]; c && *c; c++)
            n++;
    return n;
}

const struct cim_class *cim_class_at(size_t i)
{
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
        for (const struct cim_class *const *c = families[f]; c && *c; c++)
            if (i-- == 0)
                return *c;
    return NULL;
}

const char *cim_uri_prefix_dmtf(void)
{
    return DMTF_PREFIX;
}

const char *cim_uri_prefix_wmi(void)
{
    return WMI_PREFIX "root/cimv2/";
}

const struct cim_class *cim_class_for_uri(const char *uri)
{
    const char *name = NULL;
    if (!uri)
        return NULL;
    if (strncasecmp(uri, DMTF_PREFIX, strlen(DMTF_PREFIX)) == 0) {
        name = uri + strlen(DMTF_PREFIX);
    } else if (strncasecmp(uri, WMI_PREFIX, strlen(WMI_PREFIX)) == 0) {
        const char *ns = uri + strlen(WMI_PREFIX);
        /* WMI keeps the namespace in the path: root/cimv2 is ours, and
         * root/hardware for the IPMI classes. */
        if (strncasecmp(ns, "root/wmi/", 9) == 0) {
            const struct cim_class *c = cim_find_class(ns + 9);
            return c && in_family(cim_family_rootwmi, c) && !strchr(ns + 9, '/') ? c : NULL;
        }
        if (strncasecmp(ns, "root/hardware/", 14) == 0) {
            const struct cim_class *c = cim_find_class(ns + 14);
            return c && cim_class_is_hardware(c) && !strchr(ns + 14, '/') ? c : NULL;
        }
        if (strncasecmp(ns, "root/cimv2/", 11) != 0)
            return NULL;
        name = ns + 11;
    }
    if (!name || !*name || strchr(name, '/') || strchr(name, '?'))
        return NULL;
    const struct cim_class *c = cim_find_class(name);
    /* Each class answers under the form its names follow: Win32_ classes
     * under WMI, the others (CIM_, ours) under both. */
    if (c && strncasecmp(c->name, "Win32_", 6) == 0 && name == uri + strlen(DMTF_PREFIX))
        return NULL;
    if (c && (cim_class_is_hardware(c) || in_family(cim_family_rootwmi, c)))
        return NULL; /* root/hardware's or root/wmi's own */
    return c;
}
