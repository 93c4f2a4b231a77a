/* Unit tests for the storage provider (src/providers/storage.c, mounts.c):
 * the root filesystem's sizes against statvfs, and the mount table's
 * corner cases in a private mount namespace. */
#include "providers_storage_net.h"

static void test_root_sizes(void **state)
{
    (void)state;
    struct coll w, d, f;
    collect("Win32_LogicalDisk", &w);
    collect("CIM_LogicalDisk", &d);
    collect("CIM_FileSystem", &f);
    struct statvfs st;
    assert_int_equal(statvfs("/", &st), 0);
    uint64_t fr = st.f_frsize ? st.f_frsize : st.f_bsize;
    uint64_t size = (uint64_t)st.f_blocks * fr, avail = (uint64_t)st.f_bavail * fr;
    /* Free space moves while the test runs. */
    uint64_t tol = avail / 100 > 64 * fr ? avail / 100 : 64 * fr;

    const struct cim_instance *root = find_inst(&w, "DeviceID", "/");
    assert_non_null(root);
    assert_int_equal(u64(root, "Size"), size);
    uint64_t free_ = u64(root, "FreeSpace");
    if ((free_ > avail ? free_ - avail : avail - free_) > tol)
        fail_msg("FreeSpace %llu, statvfs says %llu", (unsigned long long)free_,
                 (unsigned long long)avail);
    assert_true(free_ <= size);
    assert_string_equal(str(root, "Name"), "/");
    assert_non_null(str(root, "FileSystem"));
    uint64_t dt = u64(root, "DriveType");
    assert_true(dt == 2 || dt == 3 || dt == 4 || dt == 6);
    assert_int_equal(u64(root, "MaximumComponentLength"), st.f_namemax);
    assert_int_equal(u64(root, "Access"), (st.f_flag & ST_RDONLY) ? 1 : 3);
    assert_string_equal(str(root, "Compressed"), "false");
    /* SupportsDiskQuotas exactly where QuotasDisabled is known. */
    for (size_t k = 0; k < w.n; k++) {
        const char *qd = str(&w.inst[k], "QuotasDisabled");
        const char *sq = str(&w.inst[k], "SupportsDiskQuotas");
        if (qd)
            assert_string_equal(sq, "true");
        else
            assert_null(sq);
    }

    const struct cim_instance *disk = find_inst(&d, "DeviceID", "/");
    assert_non_null(disk);
    assert_int_equal(u64(disk, "BlockSize") * u64(disk, "NumberOfBlocks"), size);
    assert_string_equal(str(disk, "CreationClassName"), "CIM_LogicalDisk");

    const struct cim_instance *fs = find_inst(&f, "Name", "/");
    assert_non_null(fs);
    assert_int_equal(u64(fs, "FileSystemSize"), size);
    uint64_t av = u64(fs, "AvailableSpace");
    assert_true((av > avail ? av - avail : avail - av) <= tol);
    assert_string_equal(str(fs, "FileSystemType"), str(root, "FileSystem"));
    assert_string_equal(str(fs, "Root"), "/");
    assert_string_equal(str(fs, "ReadOnly"), (st.f_flag & ST_RDONLY) ? "true" : "false");
    assert_int_equal(u64(fs, "MaxFileNameLength"), st.f_namemax);

    /* Every disk: free space no larger than the size; DriveType known. */
    for (size_t i = 0; i < w.n; i++) {
        const struct cim_instance *in = &w.inst[i];
        if (str(in, "Size") && str(in, "FreeSpace"))
            assert_true(u64(in, "FreeSpace") <= u64(in, "Size"));
        uint64_t t = u64(in, "DriveType");
        assert_true(t >= 2 && t <= 6);
        assert_string_equal(str(in, "Name"), str(in, "DeviceID"));
        assert_int_equal(str(in, "DeviceID")[0], '/');
    }
    coll_free(&w);
    coll_free(&d);
    coll_free(&f);
}

/* The addresses getifaddrs gives an interface, as text. */
/* Mount table corner cases, in a private mount namespace (needs
 * CAP_SYS_ADMIN; skipped without it): an escaped mount point, tmpfs on
 * /tmp as a RAM disk, a bind mount of a subtree left out, a mount hidden
 * by a later one on the same path shown once. The child reports the
 * line of the first failed check as its exit status. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "child check failed: %s (line %d)\n", #c, __LINE__);                   \
            _exit(__LINE__ % 200 + 2);                                                             \
        }                                                                                          \
    } while (0)

static size_t child_disks(struct wsm_arena *a, const char *want, const char **drive_type,
                          const char **size)
{
    const struct cim_class *c = find("Win32_LogicalDisk");
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    void *it = NULL;
    size_t hits = 0;
    CHECK(c->open(&ctx, &it) == WSM_OK);
    for (;;) {
        struct cim_instance in = {c, a, new_values(a, c)};
        if (c->next(it, &in) != WSM_OK)
            break;
        const char *id = cim_get(&in, "DeviceID");
        if (id && !strcmp(id, want)) {
            hits++;
            *drive_type = cim_get(&in, "DriveType");
            *size = cim_get(&in, "Size");
        }
    }
    c->close(it);
    return hits;
}

static void mount_child(void)
{
    struct wsm_arena a;
    const char *dt = NULL, *root_dt = NULL, *sz = NULL, *root_provider;
    wsm__arena_init(&a);
    CHECK(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0);
    CHECK(mount("wsmdtest", "/tmp", "tmpfs", 0, "size=1m") == 0);

    CHECK(child_disks(&a, "/", &root_dt, &sz) == 1);
    struct cim_instance rin = {find("Win32_LogicalDisk"), &a, NULL};
    rin.v = new_values(&a, rin.cls);
    struct wsm_pair rk = {"DeviceID", "/"};
    CHECK(rin.cls->get(NULL, &rk, 1, &rin) == WSM_OK);
    root_provider = cim_get(&rin, "ProviderName");

    CHECK(child_disks(&a, "/tmp", &dt, &sz) == 1);
    CHECK(dt && !strcmp(dt, "6"));
    CHECK(sz && !strcmp(sz, "1048576"));

    /* The root filesystem again, at a path with a space and a tab. */
    CHECK(mkdir("/tmp/a b\tc", 0755) == 0);
    /* Recursive: a user namespace may not bind "/" without what is on it. */
    CHECK(mount("/", "/tmp/a b\tc", "none", MS_BIND | MS_REC, NULL) == 0);
    if (root_dt && !strcmp(root_dt, "3") && root_provider && !strncmp(root_provider, "/dev/", 5)) {
        CHECK(child_disks(&a, "/tmp/a b\tc", &dt, &sz) == 1);
        struct cim_instance in = {find("CIM_FileSystem"), &a, NULL};
        in.v = new_values(&a, in.cls);
        struct wsm_pair k = {"Name", "/tmp/a b\tc"};
        CHECK(in.cls->get(NULL, &k, 1, &in) == WSM_OK);
        CHECK(!strcmp(cim_get(&in, "Root"), "/tmp/a b\tc"));
    }
    /* A subtree bound elsewhere is not a disk. */
    CHECK(mkdir("/tmp/sub", 0755) == 0);
    CHECK(mount("/etc", "/tmp/sub", "none", MS_BIND | MS_REC, NULL) == 0);
    CHECK(child_disks(&a, "/tmp/sub", &dt, &sz) == 0);

    /* A second /tmp hides the first and everything under it. */
    CHECK(mount("wsmdtest2", "/tmp", "tmpfs", 0, "size=2m") == 0);
    CHECK(child_disks(&a, "/tmp", &dt, &sz) == 1);
    CHECK(sz && !strcmp(sz, "2097152"));
    CHECK(child_disks(&a, "/tmp/a b\tc", &dt, &sz) == 0);
    wsm__arena_free(&a);
    _exit(0);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int r = fputs(text, f) < 0;
    return fclose(f) || r ? -1 : 0;
}

/* A user namespace where we are root, with a mount namespace of its own. */
static int userns(void)
{
    char map[64];
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return -1;
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
    if (write_file("/proc/self/uid_map", map))
        return -1;
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
    return write_file("/proc/self/gid_map", map);
}

static void test_mount_namespace(void **state)
{
    (void)state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* As root, or as anyone where user namespaces are allowed. */
        char ok = unshare(CLONE_NEWNS) == 0 || userns() == 0 ? 'y' : 'n';
        if (write(pipefd[1], &ok, 1) != 1 || ok != 'y')
            _exit(0);
        mount_child();
    }
    close(pipefd[1]);
    char ok = 'n';
    if (read(pipefd[0], &ok, 1) != 1)
        ok = 'n';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (ok != 'y')
        skip(); /* no CAP_SYS_ADMIN */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_sizes),
        cmocka_unit_test(test_mount_namespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
