/* Storage: mounted filesystems as Win32_LogicalDisk, CIM_LogicalDisk and
 * CIM_FileSystem (the same set of mounts in the three classes, keyed by
 * the mount point).
 *
 * The mount table (mounts.c) is /proc/self/mountinfo, read whole when an iterator
 * opens (bounded; the kernel bounds the number of mounts anyway) so that
 * a mount hidden by a later mount on the same path can be skipped. The
 * instances themselves are made one at a time: statvfs, sysfs and
 * /dev/disk lookups happen in next() for the mount being returned only.
 * Which mounts count as "disks" is decided by want_mount(); see
 * docs/internals/providers-storage-net.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cim.h"
#include "storage_priv.h"

/* ---- property tables ------------------------------------------------ */

static const struct cim_prop win32_disk_props[] = {
    {"Access", CIM_UINT16, 0},
    {"Availability", CIM_UINT16, 0},
    {"BlockSize", CIM_UINT64, 0},
    {"Caption", CIM_STRING, 0},
    {"Compressed", CIM_BOOLEAN, 0},
    {"ConfigManagerErrorCode", CIM_UINT32, 0},
    {"ConfigManagerUserConfig", CIM_BOOLEAN, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"DriveType", CIM_UINT32, 0},
    {"ErrorCleared", CIM_BOOLEAN, 0},
    {"ErrorDescription", CIM_STRING, 0},
    {"ErrorMethodology", CIM_STRING, 0},
    {"FileSystem", CIM_STRING, 0},
    {"FreeSpace", CIM_UINT64, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"LastErrorCode", CIM_UINT32, 0},
    {"MaximumComponentLength", CIM_UINT32, 0},
    {"MediaType", CIM_UINT32, 0},
    {"Name", CIM_STRING, 0},
    {"NumberOfBlocks", CIM_UINT64, 0},
    {"PNPDeviceID", CIM_STRING, 0},
    {"PowerManagementCapabilities", CIM_UINT16, CIM_ARRAY},
    {"PowerManagementSupported", CIM_BOOLEAN, 0},
    {"ProviderName", CIM_STRING, 0},
    {"Purpose", CIM_STRING, 0},
    {"QuotasDisabled", CIM_BOOLEAN, 0},
    {"QuotasIncomplete", CIM_BOOLEAN, 0},
    {"QuotasRebuilding", CIM_BOOLEAN, 0},
    {"Size", CIM_UINT64, 0},
    {"Status", CIM_STRING, 0},
    {"StatusInfo", CIM_UINT16, 0},
    {"SupportsDiskQuotas", CIM_BOOLEAN, 0},
    {"SupportsFileBasedCompression", CIM_BOOLEAN, 0},
    {"SystemCreationClassName", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"VolumeDirty", CIM_BOOLEAN, 0},
    {"VolumeName", CIM_STRING, 0},
    {"VolumeSerialNumber", CIM_STRING, 0},
};

static const struct cim_prop cim_disk_props[] = {
    {"SystemCreationClassName", CIM_STRING, CIM_KEY},
    {"SystemName", CIM_STRING, CIM_KEY},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"BlockSize", CIM_UINT64, 0},
    {"NumberOfBlocks", CIM_UINT64, 0},
    {"ConsumableBlocks", CIM_UINT64, 0},
    {"Access", CIM_UINT16, 0},
    {"Primordial", CIM_BOOLEAN, 0},
};

static const struct cim_prop cim_fs_props[] = {
    {"CSCreationClassName", CIM_STRING, CIM_KEY},
    {"CSName", CIM_STRING, CIM_KEY},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, CIM_KEY},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Root", CIM_STRING, 0},
    {"FileSystemType", CIM_STRING, 0},
    {"FileSystemSize", CIM_UINT64, 0},
    {"AvailableSpace", CIM_UINT64, 0},
    {"BlockSize", CIM_UINT64, 0},
    {"NumberOfFiles", CIM_UINT64, 0},
    {"ReadOnly", CIM_BOOLEAN, 0},
    {"CasePreserved", CIM_BOOLEAN, 0},
    {"CaseSensitive", CIM_BOOLEAN, 0},
    {"MaxFileNameLength", CIM_UINT32, 0},
    {"PersistenceType", CIM_UINT16, 0},
};

/* ---- what a mount looks like --------------------------------------- */

/* Removable flag of the disk holding dev (a partition asks its parent). */
static int is_removable(struct wsm_arena *a, dev_t dev)
{
    char path[96];
    unsigned ma = major(dev), mi = minor(dev);
    snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/removable", ma, mi);
    const char *r = cim_read_file(a, path);
    if (!r) {
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", ma, mi);
        if (access(path, F_OK) == 0) {
            snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../removable", ma, mi);
            r = cim_read_file(a, path);
        }
    }
    return r && !strcmp(r, "1");
}

static unsigned drive_type(struct wsm_arena *a, const struct mnt *m, dev_t dev)
{
    if (wsmd__stor_is_network_fs(m->fstype))
        return 4;
    if (!strcmp(m->fstype, "tmpfs") || !strcmp(m->fstype, "ramfs"))
        return 6;
    if (!strcmp(m->fstype, "iso9660") || !strcmp(m->fstype, "udf"))
        return 5;
    if (dev && is_removable(a, dev))
        return 2;
    return 3;
}

static const char *drive_description(unsigned t)
{
    switch (t) {
    case 2:
        return "Removable Disk";
    case 4:
        return "Network Connection";
    case 5:
        return "CD-ROM Disc";
    case 6:
        return "RAM Disk";
    default:
        return "Local Fixed Disk";
    }
}

/* Decodes udev's \xHH escapes in a /dev/disk/by-* link name. */
static void udev_decode(const char *in, char *out, size_t n)
{
    size_t o = 0;
    while (*in && o + 1 < n) {
        unsigned v;
        if (in[0] == '\\' && in[1] == 'x' && sscanf(in + 2, "%2x", &v) == 1 && in[2] && in[3]) {
            out[o++] = (char)v;
            in += 4;
        } else {
            out[o++] = *in++;
        }
    }
    out[o] = '\0';
}

/* The name of the link in dir (/dev/disk/by-label, by-uuid) that points
 * at dev; 0 if none. */
static int disk_link(const char *dir, dev_t dev, char *out, size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev) {
            udev_decode(e->d_name, out, n);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* Returns 0 if the mount point is gone (unmounted since the table was
 * read, or under a later mount on a parent path): no instance then. */
static int describe(struct wsm_arena *a, const struct mnt *m, struct disk *d)
{
    memset(d, 0, sizeof(*d));
    d->m = m;
    d->have_vfs = statvfs(m->mountpoint, &d->vfs) == 0;
    if (!d->have_vfs && errno == ENOENT)
        return 0;
    d->dev = wsmd__stor_backing_dev(m);
    d->drive_type = drive_type(a, m, d->dev);
    return 1;
}

static void set_vfs_sizes(struct cim_instance *in, const struct disk *d, const char *size,
                          const char *avail)
{
    if (!d->have_vfs)
        return;
    uint64_t fr = d->vfs.f_frsize ? d->vfs.f_frsize : d->vfs.f_bsize;
    if (size)
        cim_set_u64(in, size, (uint64_t)d->vfs.f_blocks * fr);
    if (avail)
        cim_set_u64(in, avail, (uint64_t)d->vfs.f_bavail * fr);
}

static uint64_t frsize(const struct disk *d)
{
    return d->vfs.f_frsize ? d->vfs.f_frsize : d->vfs.f_bsize;
}

static void fill_win32(struct cim_instance *in, const struct disk *d, const char *host)
{
    const struct mnt *m = d->m;
    char label[256];
    cim_set_str(in, "DeviceID", m->mountpoint);
    cim_set_str(in, "Name", m->mountpoint);
    cim_set_str(in, "Caption", m->mountpoint);
    cim_set_str(in, "Description", drive_description(d->drive_type));
    cim_set_str(in, "CreationClassName", "Win32_LogicalDisk");
    cim_set_str(in, "SystemCreationClassName", "Win32_ComputerSystem");
    cim_set_str(in, "SystemName", host);
    cim_set_u64(in, "DriveType", d->drive_type);
    if (d->drive_type == 3)
        cim_set_u64(in, "MediaType", 12); /* fixed hard disk media */
    else if (d->drive_type == 2)
        cim_set_u64(in, "MediaType", 11); /* removable media other than floppy */
    cim_set_str(in, "FileSystem", m->fstype);
    set_vfs_sizes(in, d, "Size", "FreeSpace");
    if (d->have_vfs) {
        cim_set_u64(in, "BlockSize", frsize(d));
        cim_set_u64(in, "NumberOfBlocks", d->vfs.f_blocks);
        cim_set_u64(in, "MaximumComponentLength", d->vfs.f_namemax);
        cim_set_u64(in, "Access", (d->vfs.f_flag & ST_RDONLY) ? 1 : 3);
    }
    if (d->dev && disk_link("/dev/disk/by-label", d->dev, label, sizeof(label)))
        cim_set_str(in, "VolumeName", label);
    if (d->dev && disk_link("/dev/disk/by-uuid", d->dev, label, sizeof(label)))
        cim_set_str(in, "VolumeSerialNumber", label);
    cim_set_str(in, "ProviderName", m->source);

    int btrfs = !strcmp(m->fstype, "btrfs");
    cim_set_bool(in, "Compressed",
                 btrfs && (wsmd__stor_has_opt(m->super_opts, "compress") ||
                           wsmd__stor_has_opt(m->super_opts, "compress-force")));
    cim_set_bool(in, "SupportsFileBasedCompression", btrfs);

    /* Known only where quotas are mount options of a quota-capable fs. */
    static const char *const quota_fs[] = {"ext2", "ext3", "ext4", "xfs",
                                           "jfs",  "gfs2", "f2fs", NULL};
    static const char *const quota_opts[] = {
        "quota",  "usrquota", "grpquota",    "prjquota",    "usrjquota",   "grpjquota",  "uquota",
        "gquota", "pquota",   "uqnoenforce", "gqnoenforce", "pqnoenforce", "qnoenforce", NULL,
    };
    int quota = 0;
    for (const char *const *q = quota_opts; *q; q++)
        quota |= wsmd__stor_has_opt(m->super_opts, *q);
    if (quota || wsmd__stor_in_list(m->fstype, quota_fs)) {
        cim_set_bool(in, "QuotasDisabled", !quota);
        cim_set_bool(in, "SupportsDiskQuotas", 1); /* a quota-capable fs */
    }
}

static void fill_dmtf_disk(struct cim_instance *in, const struct disk *d, const char *host)
{
    const struct mnt *m = d->m;
    char label[256];
    cim_set_str(in, "SystemCreationClassName", "CIM_ComputerSystem");
    cim_set_str(in, "SystemName", host);
    cim_set_str(in, "CreationClassName", "CIM_LogicalDisk");
    cim_set_str(in, "DeviceID", m->mountpoint);
    cim_set_str(in, "Name", m->mountpoint);
    if (d->dev && disk_link("/dev/disk/by-label", d->dev, label, sizeof(label)))
        cim_set_str(in, "ElementName", label);
    else
        cim_set_str(in, "ElementName", m->mountpoint);
    cim_set_str(in, "Caption", m->mountpoint);
    cim_set_str(in, "Description", drive_description(d->drive_type));
    if (d->have_vfs) {
        cim_set_u64(in, "BlockSize", frsize(d));
        cim_set_u64(in, "NumberOfBlocks", d->vfs.f_blocks);
        cim_set_u64(in, "ConsumableBlocks", d->vfs.f_blocks);
        cim_set_u64(in, "Access", (d->vfs.f_flag & ST_RDONLY) ? 1 : 3);
    }
    cim_set_bool(in, "Primordial", 0); /* a filesystem, not raw storage */
}

static void fill_dmtf_fs(struct cim_instance *in, const struct disk *d, const char *host)
{
    const struct mnt *m = d->m;
    cim_set_str(in, "CSCreationClassName", "CIM_ComputerSystem");
    cim_set_str(in, "CSName", host);
    cim_set_str(in, "CreationClassName", "CIM_FileSystem");
    cim_set_str(in, "Name", m->mountpoint);
    cim_set_str(in, "ElementName", m->mountpoint);
    cim_set_str(in, "Caption", m->mountpoint);
    cim_set_str(in, "Root", m->mountpoint);
    cim_set_str(in, "FileSystemType", m->fstype);
    set_vfs_sizes(in, d, "FileSystemSize", "AvailableSpace");
    if (d->have_vfs) {
        cim_set_u64(in, "BlockSize", frsize(d));
        if (d->vfs.f_files > 0 && d->vfs.f_files >= d->vfs.f_ffree)
            cim_set_u64(in, "NumberOfFiles", (uint64_t)(d->vfs.f_files - d->vfs.f_ffree));
        cim_set_bool(in, "ReadOnly", (d->vfs.f_flag & ST_RDONLY) != 0);
        cim_set_u64(in, "MaxFileNameLength", d->vfs.f_namemax);
    }
    /* FAT and NTFS fold case; an SMB share depends on the server. */
    static const char *const nocase[] = {"vfat", "msdos", "exfat", "ntfs", "ntfs3", NULL};
    static const char *const server[] = {"cifs", "smb3", "smbfs", NULL};
    if (wsmd__stor_in_list(m->fstype, nocase)) {
        cim_set_bool(in, "CaseSensitive", 0);
        cim_set_bool(in, "CasePreserved", strcmp(m->fstype, "msdos") != 0);
    } else if (!wsmd__stor_in_list(m->fstype, server)) {
        cim_set_bool(in, "CaseSensitive", 1);
        cim_set_bool(in, "CasePreserved", 1);
    }
    if (d->drive_type == 6)
        cim_set_u64(in, "PersistenceType", 3); /* Temporary */
    else if (d->drive_type != 4)
        cim_set_u64(in, "PersistenceType", 2); /* Persistent */
}

static void fill(enum which which, struct cim_instance *in, const struct disk *d, const char *host)
{
    if (which == W32_DISK)
        fill_win32(in, d, host);
    else if (which == DMTF_DISK)
        fill_dmtf_disk(in, d, host);
    else
        fill_dmtf_fs(in, d, host);
}

/* ---- class operations ----------------------------------------------- */

static enum wsm_err mnt_next(void *it, struct cim_instance *inst)
{
    struct mnt_iter *s = it;
    struct mnt m;
    struct disk d;
    while (s && wsmd__stor_next_mount(s, &m)) {
        if (!describe(inst->arena, &m, &d))
            continue;
        fill(s->which, inst, &d, s->host);
        return WSM_OK;
    }
    return WSM_ERR_NOT_FOUND;
}

static void mnt_close(void *it)
{
    wsmd__stor_iter_free(it);
}

static enum wsm_err open_which(enum which which, void **it)
{
    struct mnt_iter *s;
    enum wsm_err e = wsmd__stor_iter_new(which, &s);
    if (!e)
        *it = s;
    return e;
}

static enum wsm_err open_w32(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    return open_which(W32_DISK, it);
}

static enum wsm_err open_disk(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    return open_which(DMTF_DISK, it);
}

static enum wsm_err open_fs(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    return open_which(DMTF_FS, it);
}

/* Every key given must match the instance made, as the dispatcher
 * compares them (strings case-insensitively); selectors that name no
 * key (__cimnamespace) are not ours to judge. */
static int keys_match(const struct cim_instance *inst, const struct wsm_pair *keys, size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++) {
        int k = cim_prop_index(inst->cls, keys[i].name);
        if (k < 0 || !(inst->cls->props[k].flags & CIM_KEY))
            continue;
        const char *v = inst->v[k].s;
        if (!v || !keys[i].value || strcasecmp(v, keys[i].value) != 0)
            return 0;
    }
    return 1;
}

/* Get by the mount point: a scan of the table that stats only the mount
 * asked for (statvfs of every mount would also wait on every slow
 * network mount). An exact match wins; failing that, a case-insensitive
 * one, as the dispatcher's key comparison is. */
static enum wsm_err mnt_get(enum which which, const char *keyname, const struct wsm_pair *keys,
                            size_t nkeys, struct cim_instance *inst)
{
    const char *want = NULL;
    for (size_t i = 0; i < nkeys; i++)
        if (!strcasecmp(keys[i].name, keyname))
            want = keys[i].value;
    if (!want)
        return WSM_ERR_INVALID_SELECTORS;
    struct mnt_iter *s;
    enum wsm_err e = wsmd__stor_iter_new(which, &s);
    if (e)
        return e;
    struct mnt m, folded;
    int have_folded = 0, found = 0;
    while (!found && wsmd__stor_next_mount(s, &m)) {
        if (!strcmp(m.mountpoint, want)) {
            found = 1;
        } else if (!have_folded && !strcasecmp(m.mountpoint, want)) {
            folded = m; /* its strings stay valid: later lines are elsewhere */
            have_folded = 1;
        }
    }
    if (!found && have_folded) {
        m = folded;
        found = 1;
    }
    struct disk d;
    if (found && (found = describe(inst->arena, &m, &d))) {
        fill(which, inst, &d, s->host);
        if (!(found = keys_match(inst, keys, nkeys)))
            memset(inst->v, 0, inst->cls->nprops * sizeof(*inst->v));
    }
    wsmd__stor_iter_free(s);
    return found ? WSM_OK : WSM_ERR_NOT_FOUND;
}

static enum wsm_err get_w32(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                            struct cim_instance *inst)
{
    (void)ctx;
    return mnt_get(W32_DISK, "DeviceID", keys, n, inst);
}

static enum wsm_err get_disk(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                             struct cim_instance *inst)
{
    (void)ctx;
    return mnt_get(DMTF_DISK, "DeviceID", keys, n, inst);
}

static enum wsm_err get_fs(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                           struct cim_instance *inst)
{
    (void)ctx;
    return mnt_get(DMTF_FS, "Name", keys, n, inst);
}

#define NPROPS(p) (sizeof(p) / sizeof((p)[0]))

static const struct cim_class win32_logicaldisk = {
    .name = "Win32_LogicalDisk",
    .props = win32_disk_props,
    .nprops = NPROPS(win32_disk_props),
    .open = open_w32,
    .next = mnt_next,
    .close = mnt_close,
    .get = get_w32,
};

static const struct cim_class cim_logicaldisk = {
    .name = "CIM_LogicalDisk",
    .props = cim_disk_props,
    .nprops = NPROPS(cim_disk_props),
    .open = open_disk,
    .next = mnt_next,
    .close = mnt_close,
    .get = get_disk,
};

static const struct cim_class cim_filesystem = {
    .name = "CIM_FileSystem",
    .props = cim_fs_props,
    .nprops = NPROPS(cim_fs_props),
    .open = open_fs,
    .next = mnt_next,
    .close = mnt_close,
    .get = get_fs,
};

const struct cim_class *const cim_family_storage[] = {
    &win32_logicaldisk,
    &cim_logicaldisk,
    &cim_filesystem,
    NULL,
};
