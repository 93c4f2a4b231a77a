/* Authorization by local group (authz.h, docs/internals/authz.md).
 *
 * An Allow line is
 *
 *     Allow = RIGHTS PRINCIPAL [PRINCIPAL...]
 *
 * RIGHTS is "all" or a comma-separated list of shell, create, read,
 * invoke, config-read, config-write, ipmi, eventing; a PRINCIPAL is a
 * local group by name, "@name" for one user, or "*" for every
 * authenticated user. Lines add up; given any, they replace the built-in
 * defaults (uid 0 excepted: it always holds everything).
 *
 * A user's groups are those of the local account of the same name
 * (getpwnam_r + getgrouplist): the account database is the authority, so
 * a user removed from wsmd-admins loses the rights within CACHE_TTL_MS. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "authz.h"
#include "buf.h"
#include "server.h"
#include "userfile.h"

#define MAX_RULES 64
#define MAX_NAME 64
#define MAX_GROUPS 256
/* Lookups are cached briefly (an NSS lookup may cost a network round
 * trip with sssd or LDAP) and the cache is bounded: the oldest entry
 * makes room. */
#define CACHE_SLOTS 64
#define CACHE_TTL_MS 5000

enum kind { P_GROUP, P_USER, P_ANY };

struct rule {
    unsigned rights;
    enum kind kind;
    char name[MAX_NAME];
};

struct slot {
    char user[WSMD_MAX_USER];
    unsigned rights;
    long long at_ms; /* 0: empty */
};

struct wsmd_authz {
    int is_root;
    int configured; /* Allow lines were given */
    struct rule rules[MAX_RULES];
    size_t nrules;
    pthread_mutex_t lock;
    struct slot cache[CACHE_SLOTS];
};

static const struct {
    const char *name;
    unsigned bit;
} rights[] = {
    {"shell", WSMD_RIGHT_SHELL},
    {"create", WSMD_RIGHT_CREATE},
    {"read", WSMD_RIGHT_READ},
    {"invoke", WSMD_RIGHT_INVOKE},
    {"config-read", WSMD_RIGHT_CONFIG_READ},
    {"config-write", WSMD_RIGHT_CONFIG_WRITE},
    {"ipmi", WSMD_RIGHT_IPMI},
    {"eventing", WSMD_RIGHT_EVENTING},
};
#define NRIGHTS (sizeof(rights) / sizeof(rights[0]))

const char *wsmd__authz_right_name(unsigned right)
{
    for (size_t i = 0; i < NRIGHTS; i++)
        if (rights[i].bit == right)
            return rights[i].name;
    return "?";
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Names as account databases spell them; nothing that could break the
 * SDDL rendering or a log line. */
static int name_ok(const char *s, size_t len)
{
    if (len == 0 || len >= MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '$' || (c == '@' && i > 0)))
            return 0;
    }
    return 1;
}

static int parse_rights(const char *s, size_t len, unsigned *out, char *why, size_t whylen)
{
    *out = 0;
    if (len == 3 && !strncasecmp(s, "all", 3)) {
        *out = WSMD_RIGHTS_ALL;
        return 0;
    }
    while (len > 0) {
        const char *comma = memchr(s, ',', len);
        size_t n = comma ? (size_t)(comma - s) : len;
        size_t i;
        for (i = 0; i < NRIGHTS; i++)
            if (strlen(rights[i].name) == n && !strncasecmp(rights[i].name, s, n))
                break;
        if (i == NRIGHTS) {
            snprintf(why, whylen,
                     "unknown right \"%.*s\" (all, shell, create, read, invoke, "
                     "config-read, config-write, ipmi, eventing)",
                     (int)(n > 40 ? 40 : n), s);
            return -1;
        }
        *out |= rights[i].bit;
        if (!comma)
            break;
        s = comma + 1;
        len -= n + 1;
        if (len == 0) {
            snprintf(why, whylen, "a right is missing after a comma");
            return -1;
        }
    }
    return 0;
}

/* Parses value into rules (at most room of them; rules NULL: only
 * checks). Returns how many, or -1 with why. */
static int parse_line(const char *value, struct rule *rules, size_t room, char *why, size_t whylen)
{
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, " \t");
    unsigned bits;
    if (n == 0) {
        snprintf(why, whylen, "expected: RIGHT[,RIGHT...] GROUP|@USER|* ...");
        return -1;
    }
    if (parse_rights(p, n, &bits, why, whylen) < 0)
        return -1;
    p += n;
    int count = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        n = strcspn(p, " \t");
        struct rule r = {.rights = bits};
        const char *name = p;
        size_t len = n;
        if (n == 1 && *p == '*') {
            r.kind = P_ANY;
            len = 0;
        } else {
            r.kind = *p == '@' ? P_USER : P_GROUP;
            if (*p == '@') {
                name++;
                len--;
            }
            if (!name_ok(name, len)) {
                snprintf(why, whylen, "invalid group or user name \"%.*s\"", (int)(n > 40 ? 40 : n),
                         p);
                return -1;
            }
        }
        memcpy(r.name, name, len);
        r.name[len] = '\0';
        if (rules) {
            if ((size_t)count >= room) {
                snprintf(why, whylen, "more than %d Allow entries", MAX_RULES);
                return -1;
            }
            rules[count] = r;
        }
        count++;
        p += n;
    }
    if (count == 0) {
        snprintf(why, whylen, "no group, @user or * after the rights");
        return -1;
    }
    return count;
}

enum wsm_err wsmd__authz_check_rule(const char *value, char *why, size_t whylen)
{
    return parse_line(value, NULL, 0, why, whylen) < 0 ? WSM_ERR_INVALID_ARG : WSM_OK;
}

enum wsm_err wsmd__authz_new(const struct wsmd_config *cfg, int is_root, struct wsmd_authz **out)
{
    struct wsmd_authz *a = calloc(1, sizeof(*a));
    if (!a)
        return WSM_ERR_NOMEM;
    a->is_root = is_root;
    pthread_mutex_init(&a->lock, NULL);
    for (size_t i = 0; i < cfg->nallow; i++) {
        char why[160];
        int n = parse_line(cfg->allow[i], a->rules + a->nrules, MAX_RULES - a->nrules, why,
                           sizeof(why));
        if (n < 0) {
            fprintf(stderr, "wsmd: Allow: %s\n", why);
            wsmd__authz_free(a);
            return WSM_ERR_INVALID_ARG;
        }
        a->nrules += (size_t)n;
    }
    a->configured = cfg->nallow > 0;
    if (!a->configured && is_root) {
        /* The defaults: Administrators and Remote Management Users. */
        a->rules[0] = (struct rule){WSMD_RIGHTS_ALL, P_GROUP, WSMD_ADMIN_GROUP};
        a->rules[1] =
            (struct rule){WSMD_RIGHT_READ | WSMD_RIGHT_CONFIG_READ, P_GROUP, WSMD_READER_GROUP};
        a->nrules = 2;
    }
    *out = a;
    return WSM_OK;
}

void wsmd__authz_free(struct wsmd_authz *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int in_group(const char *group, const gid_t *groups, int ngroups)
{
    struct group gr, *res = NULL;
    /* A group's entry lists its members: a big one needs a big buffer. */
    size_t cap = 4096;
    char *buf = NULL;
    int rc;
    do {
        char *nb = realloc(buf, cap);
        if (!nb)
            break;
        buf = nb;
        rc = getgrnam_r(group, &gr, buf, cap, &res);
        cap *= 2;
    } while (rc == ERANGE && cap <= (1u << 22));
    int member = 0;
    if (res) /* else no such group (or unreadable): no member */
        for (int i = 0; i < ngroups && !member; i++)
            member = groups[i] == res->gr_gid;
    free(buf);
    return member;
}

/* The rights of user from the account database, uncached. */
static unsigned evaluate(const struct wsmd_authz *a, const char *user)
{
    struct passwd pw, *res = NULL;
    char *buf = malloc(16384);
    gid_t groups[MAX_GROUPS];
    int ngroups = 0;
    unsigned r = 0;
    if (buf && getpwnam_r(user, &pw, buf, 16384, &res) == 0 && res) {
        if (res->pw_uid == 0 && a->is_root) {
            /* root is the administrator (whether it may log in: AllowRoot,
             * the authentication layer). Not run as root, "root" is just a
             * name in the user file. */
            free(buf);
            return WSMD_RIGHTS_ALL;
        }
        ngroups = MAX_GROUPS;
        /* More groups than MAX_GROUPS: the first ones count. */
        if (getgrouplist(res->pw_name, res->pw_gid, groups, &ngroups) < 0)
            ngroups = MAX_GROUPS;
    }
    free(buf);
    if (!a->is_root && !a->configured)
        return WSMD_RIGHTS_ALL; /* one account for everybody: nothing to separate */
    for (size_t i = 0; i < a->nrules; i++) {
        const struct rule *ru = &a->rules[i];
        if ((r & ru->rights) == ru->rights)
            continue; /* nothing new: spare the lookup */
        if (ru->kind == P_ANY || (ru->kind == P_USER && !strcmp(ru->name, user)) ||
            (ru->kind == P_GROUP && in_group(ru->name, groups, ngroups)))
            r |= ru->rights;
    }
    return r;
}

unsigned wsmd__authz_rights(struct wsmd_server *srv, const char *user)
{
    struct wsmd_authz *a = srv->authz;
    if (!user || !*user)
        return WSMD_RIGHTS_NONE;
    if (!a)
        return srv->is_root ? WSMD_RIGHTS_NONE : WSMD_RIGHTS_ALL;
    if (strlen(user) >= WSMD_MAX_USER)
        return evaluate(a, user); /* would not fit a slot whole: never cached */
    long long now = now_ms();
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct slot *s = &a->cache[i];
        if (s->at_ms && now - s->at_ms < CACHE_TTL_MS && !strcmp(s->user, user)) {
            unsigned r = s->rights;
            pthread_mutex_unlock(&a->lock);
            return r;
        }
    }
    pthread_mutex_unlock(&a->lock);

    unsigned r = evaluate(a, user);

    pthread_mutex_lock(&a->lock);
    struct slot *victim = &a->cache[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct slot *s = &a->cache[i];
        if (!strcmp(s->user, user) || !s->at_ms) {
            victim = s;
            break;
        }
        if (s->at_ms < victim->at_ms)
            victim = s;
    }
    snprintf(victim->user, sizeof(victim->user), "%s", user);
    victim->rights = r;
    victim->at_ms = now ? now : 1;
    pthread_mutex_unlock(&a->lock);
    return r;
}

/* ---- RootSDDL --------------------------------------------------------
 * Windows' generic rights as WinRM reads them: GR the reads, GW the
 * configuration writes, GX running things (shells, processes, methods),
 * GA all. A set that is not a union of those is shown as a hex mask of
 * enum wsmd_right's bits. */
#define SET_GR (WSMD_RIGHT_READ | WSMD_RIGHT_CONFIG_READ)
#define SET_GW (WSMD_RIGHT_CONFIG_WRITE)
#define SET_GX (WSMD_RIGHT_SHELL | WSMD_RIGHT_CREATE | WSMD_RIGHT_INVOKE)

static enum wsm_err write_mask(struct wsm_buf *o, unsigned r)
{
    if (r == WSMD_RIGHTS_ALL)
        return wsm__buf_puts(o, "GA");
    if ((r & ~(SET_GR | SET_GW | SET_GX)) == 0 && ((r & SET_GR) == 0 || (r & SET_GR) == SET_GR) &&
        ((r & SET_GW) == 0 || (r & SET_GW) == SET_GW) &&
        ((r & SET_GX) == 0 || (r & SET_GX) == SET_GX))
        return wsm__buf_printf(o, "%s%s%s", (r & SET_GR) ? "GR" : "", (r & SET_GW) ? "GW" : "",
                               (r & SET_GX) ? "GX" : "");
    return wsm__buf_printf(o, "0x%x", r);
}

enum wsm_err wsmd__authz_sddl(const struct wsmd_server *srv, struct wsm_buf *o)
{
    const struct wsmd_authz *a = srv->authz;
    /* Owner NETWORK SERVICE, group Administrators, protected DACL: the
     * frame of Windows' default. */
    enum wsm_err e = wsm__buf_puts(o, "O:NSG:BAD:P");
    if (!a)
        return e ? e : wsm__buf_puts(o, srv->is_root ? "" : "(A;;GA;;;AU)");
    if (!e && a->is_root)
        e = wsm__buf_puts(o, "(A;;GA;;;SY)"); /* uid 0, as LocalSystem */
    if (!e && !a->is_root && !a->configured)
        e = wsm__buf_puts(o, "(A;;GA;;;AU)"); /* every authenticated user */
    for (size_t i = 0; !e && i < a->nrules; i++) {
        const struct rule *r = &a->rules[i];
        e = wsm__buf_puts(o, "(A;;");
        if (!e)
            e = write_mask(o, r->rights);
        if (!e)
            e = wsm__buf_printf(o, ";;;%s%s)", r->kind == P_USER ? "@" : "",
                                r->kind == P_ANY ? "AU" : r->name);
    }
    return e;
}
