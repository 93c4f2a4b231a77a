/* The privilege-separation wire format (pswire.h). */
#include "pswire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void ps_init(struct ps_msg *m)
{
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < PS_MAX_FDS; i++)
        m->fds[i] = -1;
}

static void close_fds(struct ps_msg *m)
{
    for (int i = 0; i < PS_MAX_FDS; i++) {
        if (m->fds[i] >= 0 && m->own)
            close(m->fds[i]);
        m->fds[i] = -1;
    }
    m->nfds = 0;
    m->own = 0;
}

void ps_clear(struct ps_msg *m)
{
    if (m->data)
        explicit_bzero(m->data, m->cap); /* passwords pass through here */
    free(m->data);
    close_fds(m);
    ps_init(m);
}

void ps_start(struct ps_msg *m, uint32_t t)
{
    if (m->data)
        explicit_bzero(m->data, m->len);
    m->len = m->pos = 0;
    m->fail = 0;
    /* Received fds nobody took are closed; fds attached for sending
     * belong to the caller and are only forgotten. */
    close_fds(m);
    ps_put_u32(m, t);
}

static void put(struct ps_msg *m, const void *p, size_t n)
{
    if (m->fail || n == 0)
        return;
    if (n > PS_MAX_MSG - m->len) {
        m->fail = 1;
        return;
    }
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 512;
        while (cap < m->len + n)
            cap *= 2;
        if (cap > PS_MAX_MSG)
            cap = PS_MAX_MSG;
        unsigned char *d = malloc(cap);
        if (!d) {
            m->fail = 1;
            return;
        }
        if (m->data) {
            memcpy(d, m->data, m->len);
            explicit_bzero(m->data, m->cap);
            free(m->data);
        }
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->len, p, n);
    m->len += n;
}

void ps_put_u32(struct ps_msg *m, uint32_t v)
{
    put(m, &v, sizeof(v));
}

void ps_put_u64(struct ps_msg *m, uint64_t v)
{
    put(m, &v, sizeof(v));
}

void ps_put_i32(struct ps_msg *m, int32_t v)
{
    put(m, &v, sizeof(v));
}

void ps_put_str(struct ps_msg *m, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > UINT32_MAX) {
        m->fail = 1;
        return;
    }
    ps_put_u32(m, (uint32_t)n);
    put(m, s ? s : "", n);
    put(m, "", 1);
}

void ps_put_blob(struct ps_msg *m, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        m->fail = 1;
        return;
    }
    ps_put_u32(m, (uint32_t)n);
    put(m, p, n);
}

void ps_put_fd(struct ps_msg *m, int fd)
{
    if (m->own || m->nfds >= PS_MAX_FDS || fd < 0) {
        m->fail = 1;
        return;
    }
    m->fds[m->nfds++] = fd;
}

static const void *get(struct ps_msg *m, size_t n)
{
    if (m->fail || n > m->len - m->pos) {
        m->fail = 1;
        return NULL;
    }
    const void *p = m->data + m->pos;
    m->pos += n;
    return p;
}

uint32_t ps_get_u32(struct ps_msg *m)
{
    uint32_t v = 0;
    const void *p = get(m, sizeof(v));
    if (p)
        memcpy(&v, p, sizeof(v));
    return v;
}

uint64_t ps_get_u64(struct ps_msg *m)
{
    uint64_t v = 0;
    const void *p = get(m, sizeof(v));
    if (p)
        memcpy(&v, p, sizeof(v));
    return v;
}

int32_t ps_get_i32(struct ps_msg *m)
{
    int32_t v = 0;
    const void *p = get(m, sizeof(v));
    if (p)
        memcpy(&v, p, sizeof(v));
    return v;
}

const char *ps_get_str(struct ps_msg *m, size_t max)
{
    uint32_t n = ps_get_u32(m);
    if (m->fail || n > max) {
        m->fail = 1;
        return "";
    }
    const char *s = get(m, (size_t)n + 1);
    if (!s || s[n] != '\0' || memchr(s, '\0', n)) {
        m->fail = 1;
        return "";
    }
    return s;
}

const unsigned char *ps_get_blob(struct ps_msg *m, size_t max, size_t *n)
{
    uint32_t l = ps_get_u32(m);
    *n = 0;
    if (m->fail || l > max) {
        m->fail = 1;
        return NULL;
    }
    const unsigned char *p = get(m, l);
    if (p)
        *n = l;
    return p;
}

int ps_take_fd(struct ps_msg *m)
{
    for (int i = 0; i < PS_MAX_FDS; i++) {
        if (m->fds[i] >= 0) {
            int fd = m->fds[i];
            m->fds[i] = -1;
            return fd;
        }
    }
    m->fail = 1;
    return -1;
}

int ps_end(const struct ps_msg *m)
{
    return !m->fail && m->pos == m->len;
}

int ps_load(struct ps_msg *m, const void *bytes, size_t n)
{
    ps_clear(m);
    if (n > PS_MAX_MSG)
        return -1;
    m->data = malloc(n ? n : 1);
    if (!m->data)
        return -1;
    memcpy(m->data, bytes, n);
    m->len = n;
    m->cap = n ? n : 1;
    return 0;
}

int ps_send(int sock, const struct ps_msg *m)
{
    if (m->fail) {
        errno = EMSGSIZE;
        return -1;
    }
    struct iovec iov = {.iov_base = m->data, .iov_len = m->len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * PS_MAX_FDS)];
    } cm;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (m->nfds > 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)m->nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)m->nfds);
        memcpy(CMSG_DATA(c), m->fds, sizeof(int) * (size_t)m->nfds);
    }
    ssize_t w;
    do
        w = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return -1;
    return (size_t)w == m->len ? 0 : (errno = EMSGSIZE, -1);
}

int ps_recv(int sock, struct ps_msg *m)
{
    close_fds(m);
    if (!m->data || m->cap < PS_MAX_MSG) {
        unsigned char *d = malloc(PS_MAX_MSG);
        if (!d)
            return -1;
        if (m->data) {
            explicit_bzero(m->data, m->cap);
            free(m->data);
        }
        m->data = d;
        m->cap = PS_MAX_MSG;
    }
    m->len = m->pos = 0;
    m->fail = 0;
    m->own = 1;
    struct iovec iov = {.iov_base = m->data, .iov_len = m->cap};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * PS_MAX_FDS)];
    } cm;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
    ssize_t r;
    do
        r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return (int)r;
    /* Every fd that came is taken, even from a message that is refused. */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[PS_MAX_FDS + 8];
        if (n > sizeof(fds) / sizeof(fds[0]))
            n = sizeof(fds) / sizeof(fds[0]);
        memcpy(fds, CMSG_DATA(c), n * sizeof(int));
        for (size_t i = 0; i < n; i++) {
            if (m->nfds < PS_MAX_FDS)
                m->fds[m->nfds++] = fds[i];
            else
                close(fds[i]);
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        close_fds(m);
        errno = EMSGSIZE;
        return -1;
    }
    m->len = (size_t)r;
    return 1;
}
