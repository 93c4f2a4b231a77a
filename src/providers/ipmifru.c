/* The BMCs' FRU inventory as the DMTF Physical Asset profile's classes
 * (DSP1011; docs/internals/ipmi.md, "FRU"): the chassis area of each FRU
 * device (0 and those the SDR's FRU Device Locators name) as CIM_Chassis,
 * the board area as CIM_Card, the product area as CIM_PhysicalPackage. Windows' IPMI provider has
 * no FRU classes, so these are the DMTF form only (root/cimv2, as the DMTF sensor classes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cim.h"
#include "ipmi.h"

static const struct cim_prop fru_props[] = {
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Tag", CIM_STRING, CIM_KEY},
    {"SystemName", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"Model", CIM_STRING, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"PartNumber", CIM_STRING, 0},
    {"Version", CIM_STRING, 0},
    {"ManufactureDate", CIM_DATETIME, 0},
    {"CanBeFRUed", CIM_BOOLEAN, 0},
    {"PackageType", CIM_UINT16, 0},
    {"ChassisPackageType", CIM_UINT16, 0},
    {"HostingBoard", CIM_BOOLEAN, 0},
    {"IPMI_AssetTag", CIM_STRING, 0},
    {"IPMI_FRUDevice", CIM_UINT8, 0},
    {"IPMI_FRUName", CIM_STRING, 0}, /* the SDR's FRU Device Locator name (devices but 0) */
};

static const char *const area_names[] = {"", "Chassis", "Board", "Product"};

static void set_text(struct cim_instance *inst, const char *prop, const char *v)
{
    if (v[0])
        cim_set_str(inst, prop, v);
}

/* The product area says who made the whole: the chassis area has no
 * manufacturer or model of its own, so CIM_Chassis borrows them. */
static void fill(struct cim_instance *inst, const char *bmc, const struct ipmi_fru *f,
                 const struct ipmi_fru *product)
{
    cim_set_str(inst, "CreationClassName", inst->cls->name);
    cim_set_fmt(inst, "Tag", "IPMI:%s:FRU%u:%s", bmc, (unsigned)f->device, area_names[f->area]);
    cim_set_str(inst, "SystemName", bmc);
    cim_set_u64(inst, "IPMI_FRUDevice", f->device);
    if (f->locator[0])
        cim_set_str(inst, "IPMI_FRUName", f->locator);
    cim_set_bool(inst, "CanBeFRUed", 1);
    set_text(inst, "SerialNumber", f->serial);
    set_text(inst, "PartNumber", f->part);
    set_text(inst, "Version", f->version);
    set_text(inst, "IPMI_AssetTag", f->asset);
    const char *mfg = f->mfg, *model = f->name;
    if (f->area == IPMI_FRU_CHASSIS && product) {
        mfg = product->mfg;
        model = product->name;
        /* CIM's ChassisPackageType follows SMBIOS's chassis types, as the
         * FRU's does (17h Rack Mount Chassis is 23 in both). */
        cim_set_u64(inst, "ChassisPackageType", f->chassis_type <= 0x24 ? f->chassis_type : 1);
        cim_set_u64(inst, "PackageType", 3); /* Chassis/Frame */
    } else if (f->area == IPMI_FRU_CHASSIS) {
        cim_set_u64(inst, "ChassisPackageType", f->chassis_type <= 0x24 ? f->chassis_type : 1);
        cim_set_u64(inst, "PackageType", 3);
    } else if (f->area == IPMI_FRU_BOARD) {
        cim_set_bool(inst, "HostingBoard", 1);
        cim_set_u64(inst, "PackageType", 9); /* Main System Board */
        if (f->date)
            cim_set_time(inst, "ManufactureDate", (time_t)f->date, 0);
    } else {
        cim_set_u64(inst, "PackageType", 1); /* Other: the product as sold */
    }
    set_text(inst, "Manufacturer", mfg);
    set_text(inst, "Model", model);
    const char *caption = model[0] ? model : f->locator[0] ? f->locator : area_names[f->area];
    cim_set_fmt(inst, "ElementName", "%s (%s)", caption, bmc);
    cim_set_fmt(inst, "Caption", "%s (%s)", caption, bmc);
}

struct fru_it {
    struct ipmi_walk *w;
    int area;
    int device; /* Get: the device its Tag names; -1 every device */
};

static enum wsm_err open_fru(const struct cim_ctx *ctx, void **out, int area, const char *only)
{
    struct fru_it *it = calloc(1, sizeof(*it));
    if (!it)
        return WSM_ERR_NOMEM;
    it->area = area;
    it->device = -1;
    enum wsm_err e = wsmd__ipmi_walk_open(ctx, IPMI_OP_FRU, area, 0, only, &it->w);
    if (e) {
        free(it);
        return e;
    }
    *out = it;
    return WSM_OK;
}

/* The product area of the same device in the reply at hand (for the
 * chassis's maker). */
static int product_of(const struct ipmi_reply *r, uint8_t device, struct ipmi_fru *p)
{
    struct ipmi_rd rd;
    struct ipmi_field f;
    ipmi_rd_init(&rd, r->f.body, r->f.blen);
    while (ipmi_rd_next(&rd, &f) == 1)
        if (f.tag == IPMI_T_RECORD && ipmi_fru_decode(f.v, f.len, p) == 0 &&
            p->area == IPMI_FRU_PRODUCT && p->device == device)
            return 1;
    return 0;
}

static enum wsm_err next_fru(void *p, struct cim_instance *inst)
{
    struct fru_it *it = p;
    if (!it)
        return WSM_ERR_NOT_FOUND;
    for (;;) {
        struct ipmi_field fl;
        enum wsm_err e = wsmd__ipmi_walk_record(it->w, inst->arena, &fl);
        if (e)
            return e;
        struct ipmi_fru f, product;
        if (ipmi_fru_decode(fl.v, fl.len, &f) != 0)
            return WSM_ERR_INTERNAL;
        if (f.area != it->area || (it->device >= 0 && f.device != it->device))
            continue;
        int hp = f.area == IPMI_FRU_CHASSIS && product_of(&it->w->r, f.device, &product);
        fill(inst, it->w->bmc, &f, hp ? &product : NULL);
        return WSM_OK;
    }
}

static void close_fru(void *p)
{
    struct fru_it *it = p;
    if (!it)
        return;
    wsmd__ipmi_walk_free(it->w);
    free(it);
}

/* Get: the Tag names the BMC and the device ("IPMI:<bmc>:FRU<n>:<area>",
 * n decimal 0-254). */
static enum wsm_err get_fru(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                            struct cim_instance *inst, int area)
{
    const char *tag = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(keys[i].name, "Tag"))
            tag = keys[i].value;
    char want[16], bmc[IPMI_NAME_MAX + 1];
    snprintf(want, sizeof(want), ":%s", area_names[area]);
    size_t l = tag ? strlen(tag) : 0, wl = strlen(want);
    if (l < 5 + wl || strncmp(tag, "IPMI:", 5) != 0 || strcmp(tag + l - wl, want) != 0)
        return WSM_ERR_NOT_FOUND;
    /* Back from the area: ":FRU<digits>" before it, the BMC before that. */
    size_t d = l - wl, nd = 0;
    while (d > 5 && tag[d - 1] >= '0' && tag[d - 1] <= '9' && nd < 4) {
        d--;
        nd++;
    }
    if (!nd || nd > 3 || d < 5 + 4 || strncmp(tag + d - 4, ":FRU", 4) != 0 ||
        (nd > 1 && tag[d] == '0'))
        return WSM_ERR_NOT_FOUND;
    int dev = atoi(tag + d);
    size_t bl = d - 4 - 5;
    if (dev > 254 || bl == 0 || bl > IPMI_NAME_MAX)
        return WSM_ERR_NOT_FOUND;
    memcpy(bmc, tag + 5, bl);
    bmc[bl] = '\0';
    void *p = NULL;
    enum wsm_err e = open_fru(ctx, &p, area, bmc);
    if (e)
        return e;
    ((struct fru_it *)p)->device = dev;
    /* The first area of its kind on that device (a device has one of each). */
    memset(inst->v, 0, inst->cls->nprops * sizeof(*inst->v));
    e = next_fru(p, inst);
    close_fru(p);
    return e;
}

#define FRUCLASS(var, cname, area)                                                                 \
    static enum wsm_err var##_open(const struct cim_ctx *ctx, void **it)                           \
    {                                                                                              \
        return open_fru(ctx, it, area, NULL);                                                      \
    }                                                                                              \
    static enum wsm_err var##_get(const struct cim_ctx *ctx, const struct wsm_pair *keys,          \
                                  size_t n, struct cim_instance *inst)                             \
    {                                                                                              \
        return get_fru(ctx, keys, n, inst, area);                                                  \
    }                                                                                              \
    const struct cim_class var = {                                                                 \
        .name = cname,                                                                             \
        .props = fru_props,                                                                        \
        .nprops = sizeof(fru_props) / sizeof(fru_props[0]),                                        \
        .open = var##_open,                                                                        \
        .next = next_fru,                                                                          \
        .close = close_fru,                                                                        \
        .get = var##_get,                                                                          \
    }

FRUCLASS(wsmd__ipmi_cim_chassis, "CIM_Chassis", IPMI_FRU_CHASSIS);
FRUCLASS(wsmd__ipmi_cim_card, "CIM_Card", IPMI_FRU_BOARD);
FRUCLASS(wsmd__ipmi_cim_package, "CIM_PhysicalPackage", IPMI_FRU_PRODUCT);
