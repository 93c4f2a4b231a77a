/* Storage: the mount table for the storage classes (storage.c). It is
 * /proc/self/mountinfo, read whole when an iterator opens (bounded; the
 * kernel bounds the number of mounts anyway) so that a mount hidden by a
 * later mount on the same path can be skipped; which mounts count as
 * "disks" is decided by want_mount(). See
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

/* Beyond this the mount table is refused rather than read in part. */
#define MOUNTINFO_CAP (16u * 1024 * 1024)

static enum wsm_err read_all(const char *path, size_t cap, char **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return WSM_ERR_IO;
    size_t len = 0, alloc = 16384;
    char *buf = malloc(alloc);
    enum wsm_err e = buf ? WSM_OK : WSM_ERR_NOMEM;
    while (!e) {
        if (alloc - len < 2) {
            if (alloc >= cap) {
                e = WSM_ERR_QUOTA;
                break;
            }
            size_t na = alloc * 2 > cap ? cap : alloc * 2;
            char *nb = realloc(buf, na);
            if (!nb) {
                e = WSM_ERR_NOMEM;
                break;
            }
            buf = nb;
            alloc = na;
        }
        ssize_t r = read(fd, buf + len, alloc - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            e = WSM_ERR_IO;
        else if (r == 0)
            break;
        else
            len += (size_t)r;
    }
    close(fd);
    if (e) {
        free(buf);
        return e;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return WSM_OK;
}

/* Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline,
 * \134 backslash) in place. */
static void unescape(char *s)
{
    char *d = s;
    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 4;
        } else {
            *d++ = *s++;
        }
    }
    *d = '\0';
}

static char *cut(char **p)
{
    char *s = *p, *sp = strchr(s, ' ');
    if (!sp)
        return NULL;
    *sp = '\0';
    *p = sp + 1;
    return s;
}

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
 * Leaves the mount point escaped (the caller compares it raw first). */
static int parse_line(char *line, struct mnt *m)
{
    char *p = line, *f[6];
    for (int i = 0; i < 6; i++)
        if (!(f[i] = cut(&p)))
            return 0;
    for (;;) { /* optional fields, up to the separator */
        char *s = cut(&p);
        if (!s)
            return 0;
        if (!strcmp(s, "-"))
            break;
    }
    char *fstype = cut(&p);
    if (!fstype)
        return 0;
    char *source = p, *sp = strchr(p, ' ');
    const char *sopts = "";
    if (sp) {
        *sp = '\0';
        sopts = sp + 1;
    }
    char tail;
    if (sscanf(f[2], "%u:%u%c", &m->major, &m->minor, &tail) != 2)
        return 0;
    unescape(f[3]);
    unescape(fstype);
    unescape(source);
    m->root = f[3];
    m->mountpoint = f[4];
    m->fstype = fstype;
    m->source = source;
    m->super_opts = sopts;
    return 1;
}

/* Whether a later line of the table mounts on the same (escaped) path:
 * then this mount is hidden and the later one is the visible one. */
static int shadowed(const char *rest, const char *mp_raw)
{
    size_t n = strlen(mp_raw);
    while (*rest) {
        const char *p = rest;
        for (int i = 0; i < 4 && p; i++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        if (p && !strncmp(p, mp_raw, n) && p[n] == ' ')
            return 1;
        const char *nl = strchr(rest, '\n');
        if (!nl)
            break;
        rest = nl + 1;
    }
    return 0;
}

int wsmd__stor_in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

int wsmd__stor_is_network_fs(const char *t)
{
    static const char *const net[] = {
        "nfs",       "nfs4",           "cifs",       "smb3",        "smbfs",  "ncpfs",
        "afs",       "ceph",           "9p",         "lustre",      "beegfs", "gpfs",
        "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", NULL,
    };
    return wsmd__stor_in_list(t, net);
}

/* Whether the option list (comma-separated) holds opt, or opt=... */
int wsmd__stor_has_opt(const char *opts, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = opts; p && *p;) {
        if (!strncmp(p, opt, n) && (p[n] == ',' || p[n] == '=' || p[n] == '\0'))
            return 1;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return 0;
}

/* The block device behind a mount, 0 if none. mountinfo's major:minor is
 * the superblock's st_dev: the device itself for most filesystems, an
 * anonymous 0:N for btrfs (then the source names the device). */
dev_t wsmd__stor_backing_dev(const struct mnt *m)
{
    if (m->major != 0)
        return makedev(m->major, m->minor);
    struct stat st;
    if (!strncmp(m->source, "/dev/", 5) && stat(m->source, &st) == 0 && S_ISBLK(st.st_mode))
        return st.st_rdev;
    return 0;
}

/* The mounts that are "logical disks": the root filesystem always; local
 * filesystems on a block device (and ZFS datasets); network filesystems;
 * tmpfs on /tmp as the RAM disk. Not: pseudo filesystems (proc, sysfs,
 * cgroup, devpts, ...), other tmpfs (/run, /dev/shm: plumbing), bind
 * mounts of a subtree (root other than "/", e.g. container /etc/hosts),
 * squashfs images (snaps: read-only, always full). */
static int want_mount(const struct mnt *m)
{
    if (!strcmp(m->mountpoint, "/"))
        return 1;
    if (!strcmp(m->fstype, "tmpfs"))
        return !strcmp(m->mountpoint, "/tmp");
    if (wsmd__stor_is_network_fs(m->fstype))
        return 1;
    /* btrfs subvolumes show their path as root: not a bind mount. */
    if (strcmp(m->root, "/") != 0 && strcmp(m->fstype, "btrfs") != 0)
        return 0;
    if (!strcmp(m->fstype, "squashfs"))
        return 0;
    if (!strcmp(m->fstype, "zfs"))
        return 1;
    return wsmd__stor_backing_dev(m) != 0;
}

/* Takes the next line from the buffer; NULL at the end. */
static char *next_line(struct mnt_iter *s)
{
    if (s->pos >= s->len)
        return NULL;
    char *line = s->buf + s->pos;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        s->pos = (size_t)(nl + 1 - s->buf);
    } else {
        s->pos = s->len;
    }
    return line;
}

/* The next wanted, visible mount, or 0 at the end. */
int wsmd__stor_next_mount(struct mnt_iter *s, struct mnt *m)
{
    char *line;
    while ((line = next_line(s))) {
        if (!parse_line(line, m))
            continue;
        if (shadowed(s->buf + s->pos, m->mountpoint))
            continue;
        unescape(m->mountpoint);
        if (want_mount(m))
            return 1;
    }
    return 0;
}

enum wsm_err wsmd__stor_iter_new(enum which which, struct mnt_iter **out)
{
    struct mnt_iter *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    s->which = which;
    enum wsm_err e = read_all("/proc/self/mountinfo", MOUNTINFO_CAP, &s->buf, &s->len);
    if (e) {
        free(s);
        return e;
    }
    cim_system_name(s->host, sizeof(s->host));
    *out = s;
    return WSM_OK;
}

void wsmd__stor_iter_free(struct mnt_iter *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}
