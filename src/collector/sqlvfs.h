/* The SQLite VFS the collector opens its database with (sqlvfs.c). */
#ifndef WSMD_SQLVFS_H
#define WSMD_SQLVFS_H

/* Its name for sqlite3_open_v2, or NULL (the default VFS). */
const char *wsmd__sqlite_vfs(void);

#endif
