/* The privilege-separation wire format: one message per SOCK_SEQPACKET
 * packet between the network process and the monitor
 * (docs/internals/privsep.md).
 *
 *   u32 type | fields...
 *
 * Fields are u32 and u64 (host order: both ends are the same binary on
 * the same machine), strings (u32 length, the bytes, a NUL that is
 * checked; no NUL inside) and blobs (u32 length, the bytes). File
 * descriptors travel beside the bytes (SCM_RIGHTS). A reader never trusts
 * a length: every get is bounded by what arrived, a short or overlong
 * message sets the fail flag, and ps_end() says whether the message was
 * consumed exactly. */
#ifndef WSMD_PSWIRE_H
#define WSMD_PSWIRE_H

#include <stddef.h>
#include <stdint.h>

/* The largest message: a Kerberos Authorization header (tens of KB) or a
 * context export, with room to spare. */
#define PS_MAX_MSG (160 * 1024)
#define PS_MAX_FDS 8

struct ps_msg {
    unsigned char *data;
    size_t len, cap, pos;
    int fail;
    int fds[PS_MAX_FDS];
    int nfds;
    int own; /* the fds were received: ps_clear closes them */
};

void ps_init(struct ps_msg *m);
/* Frees the bytes and closes any fds still held. */
void ps_clear(struct ps_msg *m);
/* Starts a new message of type t (keeps the allocation). */
void ps_start(struct ps_msg *m, uint32_t t);

void ps_put_u32(struct ps_msg *m, uint32_t v);
void ps_put_u64(struct ps_msg *m, uint64_t v);
void ps_put_i32(struct ps_msg *m, int32_t v);
void ps_put_str(struct ps_msg *m, const char *s); /* NULL is sent as "" */
void ps_put_blob(struct ps_msg *m, const void *p, size_t n);
/* Attaches fd (not duplicated: ps_send passes it, the caller still owns it). */
void ps_put_fd(struct ps_msg *m, int fd);

/* Readers: on any error they set m->fail and return 0 / "" / NULL. */
uint32_t ps_get_u32(struct ps_msg *m);
uint64_t ps_get_u64(struct ps_msg *m);
int32_t ps_get_i32(struct ps_msg *m);
/* At most max bytes (without the NUL); points into the message. */
const char *ps_get_str(struct ps_msg *m, size_t max);
const unsigned char *ps_get_blob(struct ps_msg *m, size_t max, size_t *n);
/* Takes the next received fd (the caller owns it now), or -1 and fail. */
int ps_take_fd(struct ps_msg *m);
/* 1 if everything was read and nothing failed. */
int ps_end(const struct ps_msg *m);

/* Sets m up to read what bytes/n hold (tests, fuzzing): copies them. */
int ps_load(struct ps_msg *m, const void *bytes, size_t n);

/* One packet with its fds. 0, or -1 with errno. */
int ps_send(int sock, const struct ps_msg *m);
/* One packet: 1, 0 at EOF, -1 with errno (EMSGSIZE: truncated, dropped).
 * The type is left for ps_get_u32. */
int ps_recv(int sock, struct ps_msg *m);

#endif
