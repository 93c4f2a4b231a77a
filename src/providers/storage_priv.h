/* Private to the storage provider: what its two files share. storage.c
 * has the classes and fills their instances; mounts.c reads the mount
 * table. */
#ifndef WSMD_PROVIDERS_STORAGE_PRIV_H
#define WSMD_PROVIDERS_STORAGE_PRIV_H

#include <stddef.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "cim.h"

/* One line of mountinfo, split in place (strings point into the line). */
struct mnt {
    unsigned major, minor;
    const char *root;
    char *mountpoint; /* escaped until next_mount() decodes it */
    const char *fstype;
    const char *source;
    const char *super_opts;
};

/* What next()/get() know about the mount being returned. */
struct disk {
    const struct mnt *m;
    dev_t dev; /* backing block device, 0 if none */
    int have_vfs;
    struct statvfs vfs;
    unsigned drive_type; /* Win32 DriveType */
};

enum which { W32_DISK, DMTF_DISK, DMTF_FS };

struct mnt_iter {
    enum which which;
    char *buf; /* the whole of mountinfo, NUL-terminated */
    size_t len, pos;
    char host[65];
};

/* A new iterator over the mounts that count as disks, mountinfo read
 * whole (mounts.c). */
enum wsm_err wsmd__stor_iter_new(enum which which, struct mnt_iter **out);
void wsmd__stor_iter_free(struct mnt_iter *s);
/* The next mount that counts, decoded; 0 at the end. */
int wsmd__stor_next_mount(struct mnt_iter *s, struct mnt *m);
/* The block device under a mount, 0 if none. */
dev_t wsmd__stor_backing_dev(const struct mnt *m);
/* Whether s is in the NULL-terminated list. */
int wsmd__stor_in_list(const char *s, const char *const *list);
/* Whether t is a network filesystem type. */
int wsmd__stor_is_network_fs(const char *t);
/* Whether a comma-separated option list has opt. */
int wsmd__stor_has_opt(const char *opts, const char *opt);

#endif
