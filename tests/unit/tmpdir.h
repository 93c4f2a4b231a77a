/* Temporary directories for unit tests: one per test under $TMPDIR (or
 * /tmp), removed with everything in it. Header only: each test program
 * includes it once. */
#ifndef WSM_TESTS_TMPDIR_H
#define WSM_TESTS_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* Makes TMPDIR/wsm-TAG-XXXXXX into dir (n bytes): 0, or -1. */
static inline int test_tmpdir_make(char *dir, size_t n, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    int k = snprintf(dir, n, "%s/wsm-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    return k > 0 && (size_t)k < n && mkdtemp(dir) ? 0 : -1;
}

static inline int test_tmpdir_rm1(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(p);
    return 0;
}

/* Removes path and all below it (symbolic links are not followed). */
static inline void test_tmpdir_remove(const char *path)
{
    nftw(path, test_tmpdir_rm1, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
