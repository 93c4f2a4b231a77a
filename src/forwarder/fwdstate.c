/* The forwarder's credentials and durable bookmarks
 * (docs/internals/forwarder.md, "Process model and privileges"): the files
 * root opened before the split, read by the unprivileged network process,
 * and one bookmark file per (collector, subscription) in StateDir/forwarder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fwd_priv.h"

long long wsmd__fwd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- credentials ------------------------------------------------------- */

/* The monitor opened the file; this process copies it into a memfd of its
 * own, whose /proc/self/fd path GSSAPI and GnuTLS can open by name (the
 * original's would be refused to this account). */
int wsmd__fwd_own_copy(int fd, char path[64])
{
    path[0] = '\0';
    if (fd < 0)
        return 0;
    int m = memfd_create("wsmd-fwd", MFD_CLOEXEC);
    if (m < 0)
        return -1;
    char buf[8192];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (n > 0 && write(m, buf, (size_t)n) != n)) {
            close(m);
            return -1;
        }
        if (n == 0)
            break;
        off += n;
    }
    explicit_bzero(buf, sizeof(buf));
    snprintf(path, 64, "/proc/self/fd/%d", m);
    return 0;
}

int wsmd__fwd_read_basic(struct wsmd_forwarder *fw, int fd)
{
    char buf[600];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    char *colon = strchr(buf, ':');
    int ok = colon && colon != buf && strlen(colon + 1) < sizeof(fw->password) &&
             (size_t)(colon - buf) < sizeof(fw->user);
    if (ok) {
        *colon = '\0';
        memcpy(fw->user, buf, (size_t)(colon - buf) + 1);
        memcpy(fw->password, colon + 1, strlen(colon + 1) + 1);
    }
    explicit_bzero(buf, sizeof(buf));
    return ok ? 0 : -1;
}

wsm_session *wsmd__fwd_session(struct wsmd_forwarder *fw, const char *url, char *err, size_t errlen)
{
    struct wsmd_fwdcfg *c = fw->cfg;
    char principal[300];
    struct wsm_session_opts o = {.url = url, .timeout_ms = 30000};
    if (fw->user[0]) {
        o.auth = WSM_AUTH_BASIC;
        o.user = fw->user;
        o.password = fw->password;
    } else if (fw->cert[0]) {
        o.auth = WSM_AUTH_CERTIFICATE;
    } else {
        o.auth = WSM_AUTH_KERBEROS;
        if (c->principal)
            snprintf(principal, sizeof(principal), "%s", c->principal);
        else
            snprintf(principal, sizeof(principal), "host/%s", c->machine_id);
        o.user = principal;
    }
    wsm_session *s = NULL;
    enum wsm_err e = wsm_session_new(&o, &s);
    if (!e && fw->cert[0])
        e = wsm_session_set_string(s, "CertificateFile", fw->cert);
    if (!e && fw->key[0])
        e = wsm_session_set_string(s, "KeyFile", fw->key);
    if (!e && fw->ca[0])
        e = wsm_session_set_string(s, "CAFile", fw->ca);
    if (!e && fw->keytab[0] && o.auth == WSM_AUTH_KERBEROS)
        e = wsm_session_set_string(s, "ClientKeytab", fw->keytab);
    if (e) {
        snprintf(err, errlen, "%s", s ? wsm_session_error(s) : wsm_strerror(e));
        if (!*err)
            snprintf(err, errlen, "%s", wsm_strerror(e));
        wsm_session_free(s);
        return NULL;
    }
    return s;
}

/* ---- durable bookmarks -------------------------------------------------- */

/* One file per (collector, subscription): FNV-1a of the two, in hex. */
void wsmd__fwd_state_name(const char *url, const char *sub, char out[40])
{
    unsigned long long h = 1469598103934665603ULL;
    for (const char *p = url; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '\n') * 1099511628211ULL;
    for (const char *p = sub; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(out, 40, "%016llx.bookmark", h);
}

char *wsmd__fwd_state_load(struct wsmd_fwdcfg *c, const char *name)
{
    int fd = openat(c->state_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(65537);
    ssize_t n = buf ? read(fd, buf, 65536) : -1;
    close(fd);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Written to a temporary file, synced, renamed over the old one and the
 * folder synced: after a crash the file is the old bookmark or the new. */
int wsmd__fwd_state_store(struct wsmd_fwdcfg *c, const char *name, const char *bm)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    int fd = openat(c->state_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t len = strlen(bm);
    int ok = write(fd, bm, len) == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok || renameat(c->state_fd, tmp, c->state_fd, name) != 0)
        return -1;
    fsync(c->state_fd);
    return 0;
}
