/* sd-journal through dlopen, as the service provider does for sd-bus
 * (src/providers/sdbus_dl.h): libsystemd and what it pulls in (about
 * 800 KB resident) are mapped only when a subscription first reads the
 * journal or `wsmd eventcreate` writes to it, and wsmd still starts on a
 * host without libsystemd (docs/internals/evsrc.md, "Linking"). */
#ifndef WSMD_SDJ_DL_H
#define WSMD_SDJ_DL_H

#include <stdint.h>
#include <sys/uio.h>

/* Built without libsystemd's headers too: the few declarations needed. */
#if __has_include(<systemd/sd-journal.h>)
#include <systemd/sd-journal.h>
#else
typedef struct sd_journal sd_journal;
#define SD_JOURNAL_LOCAL_ONLY 1
#endif

struct wsmd_sdj {
    int (*open)(sd_journal **, int);
    int (*open_directory)(sd_journal **, const char *, int);
    void (*close)(sd_journal *);
    int (*next)(sd_journal *);
    int (*previous)(sd_journal *);
    int (*seek_head)(sd_journal *);
    int (*seek_tail)(sd_journal *);
    int (*seek_cursor)(sd_journal *, const char *);
    int (*test_cursor)(sd_journal *, const char *);
    int (*get_cursor)(sd_journal *, char **);
    int (*get_realtime_usec)(sd_journal *, uint64_t *);
    int (*enumerate_data)(sd_journal *, const void **, size_t *);
    void (*restart_data)(sd_journal *);
    int (*set_data_threshold)(sd_journal *, size_t);
    int (*get_fd)(sd_journal *);
    int (*process)(sd_journal *);
    int (*get_usage)(sd_journal *, uint64_t *);
    int (*sendv)(const struct iovec *, int);
};

/* The table, loaded once (thread-safe), or NULL when libsystemd.so.0 or one
 * of these functions is missing. */
const struct wsmd_sdj *wsmd__sdj(void);

#endif
