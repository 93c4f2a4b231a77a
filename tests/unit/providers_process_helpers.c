/* The process and service providers' unit tests: what their programs
 * share (providers_process.h). */
#include "providers_process.h"

/* ---- helpers ---- */

static const struct cim_class *find_class(const struct cim_class *const *fam, const char *name)
{
    for (; *fam; fam++)
        if (!strcmp((*fam)->name, name))
            return *fam;
    fail_msg("no class %s", name);
    return NULL;
}

const struct cim_class *cls(const char *name)
{
    return find_class(strncmp(name + strlen(name) - 7, "Service", 7) == 0 ? cim_family_service
                                                                          : cim_family_process,
                      name);
}

const struct cim_method *method(const struct cim_class *c, const char *name)
{
    for (size_t i = 0; i < c->nmethods; i++)
        if (!strcmp(c->methods[i].name, name))
            return &c->methods[i];
    fail_msg("no method %s.%s", c->name, name);
    return NULL;
}

void inst_init(struct inst *x, const struct cim_class *c)
{
    wsm__arena_init(&x->a);
    x->i.cls = c;
    x->i.arena = &x->a;
    x->i.v = wsm__arena_alloc(&x->a, c->nprops * sizeof(*x->i.v));
    assert_non_null(x->i.v);
    memset(x->i.v, 0, c->nprops * sizeof(*x->i.v));
}

void inst_free(struct inst *x)
{
    wsm__arena_free(&x->a);
}

struct cim_ctx plain_ctx(void)
{
    struct cim_ctx c;
    memset(&c, 0, sizeof(c));
    struct passwd *pw = getpwuid(geteuid());
    c.user = pw ? pw->pw_name : "me";
    c.uid = geteuid();
    c.gid = getegid();
    c.home = "/tmp";
    return c;
}

struct cim_ctx user_ctx(uid_t uid)
{
    struct cim_ctx c;
    memset(&c, 0, sizeof(c));
    c.user = "nobody";
    c.switch_user = 1;
    c.uid = uid;
    c.gid = NOBODY;
    c.home = "/";
    return c;
}

enum wsm_err get_pid(const char *class_name, const char *handle, struct inst *x)
{
    struct wsm_pair k = {"Handle", handle};
    inst_init(x, cls(class_name));
    return x->i.cls->get(NULL, &k, 1, &x->i);
}

unsigned long long num(const struct cim_instance *i, const char *prop)
{
    const char *v = cim_get(i, prop);
    assert_non_null(v);
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    assert_true(end != v && *end == '\0');
    return n;
}

enum wsm_err invoke(struct call *c, const struct cim_ctx *ctx, const struct cim_class *k,
                    const char *m, const struct cim_instance *target, const struct wsm_pair *in,
                    size_t nin)
{
    wsm__arena_init(&c->a);
    memset(c->out, 0, sizeof(c->out));
    c->m = method(k, m);
    assert_true(c->m->nout <= 8);
    return k->invoke(ctx, c->m, target, in, nin, c->out, &c->a);
}

const char *out_val(const struct call *c, const char *name)
{
    for (size_t i = 0; i < c->m->nout; i++)
        if (!strcmp(c->m->out[i].name, name))
            return c->out[i].s;
    fail_msg("no output %s", name);
    return NULL;
}

unsigned rv_of(const struct call *c)
{
    const char *v = out_val(c, "ReturnValue");
    assert_non_null(v);
    return (unsigned)strtoul(v, NULL, 10);
}

void call_free(struct call *c)
{
    wsm__arena_free(&c->a);
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* /proc/<pid>/cmdline with NULs as spaces ("" if unreadable). */
void read_cmdline(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
}

char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *r = strrchr(buf, ')');
    return r && r[1] == ' ' ? r[2] : 0;
}

/* Gone: no such pid, or a zombie waiting for whoever adopted it (init
 * here is not necessarily a reaper). */
int wait_gone(pid_t pid, long ms)
{
    for (long t = 0; t <= ms; t += 20) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return 1;
        char st = proc_state(pid);
        if (st == 'Z' || st == 'X' || st == 0)
            return 1;
        sleep_ms(20);
    }
    return 0;
}

unsigned status_uid(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    unsigned r = ~0u, e = ~0u, s = ~0u;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Uid: %u %u %u", &r, &e, &s) == 3)
            break;
    fclose(f);
    assert_int_equal(r, e);
    assert_int_equal(r, s);
    return r;
}

int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The test process has no child left (none running, none to reap). */
void assert_no_children(pid_t created)
{
    pid_t w = waitpid(-1, NULL, WNOHANG);
    if (w == -1 && errno == ECHILD)
        return;
    char path[64], kids[256] = "";
    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "re");
    if (f) {
        size_t n = fread(kids, 1, sizeof(kids) - 1, f);
        kids[n] = '\0';
        fclose(f);
    }
    fail_msg("waitpid: %d (created %d), children: %s", (int)w, (int)created, kids);
}

/* Win32_Process.Create: the new pid (0 on failure) and the return code. */
unsigned create(const struct cim_ctx *ctx, const char *cmd, const char *dir, pid_t *pid)
{
    struct wsm_pair in[2];
    size_t n = 0;
    if (cmd)
        in[n++] = (struct wsm_pair){"CommandLine", cmd};
    if (dir)
        in[n++] = (struct wsm_pair){"CurrentDirectory", dir};
    struct call c;
    assert_int_equal(invoke(&c, ctx, cls("Win32_Process"), "Create", NULL, in, n), WSM_OK);
    unsigned rv = rv_of(&c);
    const char *p = out_val(&c, "ProcessId");
    *pid = 0;
    if (rv == 0) {
        assert_non_null(p);
        *pid = (pid_t)strtol(p, NULL, 10);
    } else {
        assert_null(p);
    }
    call_free(&c);
    return rv;
}

/* Win32_Process.Terminate through a get, as the dispatcher does. */
unsigned terminate(const struct cim_ctx *ctx, pid_t pid)
{
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)pid);
    struct inst x;
    assert_int_equal(get_pid("Win32_Process", h, &x), WSM_OK);
    struct wsm_pair in = {"Reason", "0"};
    struct call c;
    assert_int_equal(invoke(&c, ctx, cls("Win32_Process"), "Terminate", &x.i, &in, 1), WSM_OK);
    unsigned rv = rv_of(&c);
    call_free(&c);
    inst_free(&x);
    return rv;
}

void kill_quietly(pid_t pid)
{
    if (pid > 1 && pid != getpid())
        kill(pid, SIGKILL);
}
