/* SQLite's unix VFS with one change: a path under /proc/self/fd/ is used
 * as it is. The privilege-separated network process reaches StateDir
 * through a descriptor the monitor opened (collector.c: hand_over), whose
 * parents it may not be allowed to cross; the stock VFS resolves that
 * magic link to the folder's real path (xFullPathname follows symbolic
 * links) and then cannot open it. Every other path goes to the stock
 * VFS's own xFullPathname. */
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "sqlvfs.h"

#define VFS_NAME "wsmd-unix"
#define FD_PREFIX "/proc/self/fd/"

static sqlite3_vfs vfs;
static sqlite3_vfs *base;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered;

static int full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    size_t len = strlen(name);
    if (strncmp(name, FD_PREFIX, strlen(FD_PREFIX)) != 0)
        return base->xFullPathname(base, name, n, out);
    if (len + 1 > (size_t)n)
        return SQLITE_CANTOPEN;
    memcpy(out, name, len + 1);
    return SQLITE_OK;
}

static void setup(void)
{
    base = sqlite3_vfs_find(NULL);
    if (!base)
        return;
    vfs = *base;
    vfs.zName = VFS_NAME;
    vfs.pAppData = base->pAppData;
    vfs.xFullPathname = full_pathname;
    registered = sqlite3_vfs_register(&vfs, 0) == SQLITE_OK;
}

const char *wsmd__sqlite_vfs(void)
{
    pthread_once(&once, setup);
    return registered ? VFS_NAME : NULL;
}
