/* The DMTF profiles the IPMI classes implement, as CIM_RegisteredProfile
 * (DSP1033) and Windows' root/hardware RegisteredProfile: what a DMTF
 * client reads first to know which classes to ask for (docs/internals/
 * ipmi.md, "Profiles"). Fixed data: no BMC is asked, and they are listed
 * whether or not IpmiHosts names any (the classes are served either way). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim.h"

static const struct cim_prop profile_props[] = {
    {"InstanceID", CIM_STRING, CIM_KEY},
    {"RegisteredOrganization", CIM_UINT16, 0},
    {"RegisteredName", CIM_STRING, 0},
    {"RegisteredVersion", CIM_STRING, 0},
    {"AdvertiseTypes", CIM_UINT16, CIM_ARRAY},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
};

static const struct profile {
    const char *id, *name, *version, *what;
} profiles[] = {
    {"DMTF:DSP1009:Sensors", "Sensors", "1.1.0",
     "CIM_NumericSensor and CIM_Sensor: the BMCs' threshold and discrete sensors"},
    {"DMTF:DSP1010:Record Log", "Record Log", "2.0.0",
     "CIM_RecordLog and CIM_LogRecord: the BMCs' System Event Logs"},
    {"DMTF:DSP1011:Physical Asset", "Physical Asset", "1.0.2",
     "CIM_Chassis, CIM_Card and CIM_PhysicalPackage: the BMCs' FRU inventory"},
    {"DMTF:DSP1033:Profile Registration", "Profile Registration", "1.0.0",
     "CIM_RegisteredProfile: this list"},
};

static enum wsm_err prof_open(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    size_t *i = calloc(1, sizeof(*i));
    if (!i)
        return WSM_ERR_NOMEM;
    *it = i;
    return WSM_OK;
}

static enum wsm_err prof_next(void *it, struct cim_instance *inst)
{
    size_t *i = it;
    if (!i || *i >= sizeof(profiles) / sizeof(profiles[0]))
        return WSM_ERR_NOT_FOUND;
    const struct profile *p = &profiles[(*i)++];
    cim_set_str(inst, "InstanceID", p->id);
    cim_set_u64(inst, "RegisteredOrganization", 2); /* DMTF */
    cim_set_str(inst, "RegisteredName", p->name);
    cim_set_str(inst, "RegisteredVersion", p->version);
    const char *adv[] = {"3"}; /* Not Advertised (no SLP): found by enumeration */
    cim_set_strv(inst, "AdvertiseTypes", adv, 1);
    cim_set_str(inst, "ElementName", p->name);
    cim_set_str(inst, "Caption", p->name);
    cim_set_str(inst, "Description", p->what);
    return WSM_OK;
}

static void prof_close(void *it)
{
    free(it);
}

const struct cim_class wsmd__ipmi_wmi_profile = {
    .name = "RegisteredProfile",
    .props = profile_props,
    .nprops = sizeof(profile_props) / sizeof(profile_props[0]),
    .open = prof_open,
    .next = prof_next,
    .close = prof_close,
};

const struct cim_class wsmd__ipmi_cim_profile = {
    .name = "CIM_RegisteredProfile",
    .props = profile_props,
    .nprops = sizeof(profile_props) / sizeof(profile_props[0]),
    .open = prof_open,
    .next = prof_next,
    .close = prof_close,
};
