/* Helpers of the Basic authentication gate's tests (test_auth*.c): the
 * user file's fixture (userfile_helpers.h, in a directory named "auth"),
 * writing the file, and waiting for the watcher to see a change. Static
 * inline: include after cmocka.h. */
#ifndef WSM_TESTS_AUTH_HELPERS_H
#define WSM_TESTS_AUTH_HELPERS_H

#include <stdlib.h>
#include <time.h>

#include "auth.h"

#define UF_TMP_NAME "auth"
#include "userfile_helpers.h"

/* Writes a user file with the given user/password pairs (NULL-terminated). */
static inline void write_users(const char *path, const char *const *pairs)
{
    struct wsmd_userfile uf = {0};
    for (size_t i = 0; pairs[i]; i += 2)
        assert_int_equal(wsmd__userfile_set(&uf, pairs[i], pairs[i + 1]), WSM_OK);
    assert_int_equal(wsmd__userfile_save(path, &uf), WSM_OK);
    wsmd__userfile_clear(&uf);
}

static inline void pause_a_little(void)
{
    /* So that the file's mtime differs even on coarse-clock filesystems. */
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Changes are noticed by the daemon's inotify watcher thread, a moment
 * after the write. */
static inline void noticed(void)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

#endif
