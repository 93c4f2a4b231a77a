/* Helpers of the user file's tests (test_userfile*.c, and test_auth*.c
 * through auth_helpers.h): a temporary directory for the file, and writing
 * or reading a file whole. Static inline: include after cmocka.h. */
#ifndef WSM_TESTS_USERFILE_HELPERS_H
#define WSM_TESTS_USERFILE_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

#include "tmpdir.h"
#include "userfile.h"

/* The temporary directory's name (tmpdir.h). */
#ifndef UF_TMP_NAME
#define UF_TMP_NAME "userfile"
#endif

struct fixture {
    char dir[256];
    char path[300];
};

static inline int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (test_tmpdir_make(f->dir, sizeof(f->dir), UF_TMP_NAME)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/users", f->dir);
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    struct fixture *f = *state;
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static inline void write_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(content, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* The whole file as a string; caller frees. */
static inline char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

#endif
