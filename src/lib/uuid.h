#ifndef WSM_UUID_H
#define WSM_UUID_H

/* "uuid:" + 36 characters + NUL */
#define WSM_UUID_STRLEN 42

/* Random (version 4) UUIDs from the kernel's CSPRNG. */
void wsm__uuid_str(char out[37]);              /* "xxxxxxxx-xxxx-..." upper case */
void wsm__uuid_urn(char out[WSM_UUID_STRLEN]); /* "uuid:" + the above */
/* 1 when s is 8-4-4-4-12 hex digits (any case), the form of the ids
 * clients may choose (a ShellId, a CommandId). */
int wsm__uuid_valid(const char *s);
/* Fills buf with n random bytes; aborts only if the kernel cannot. */
void wsm__random(void *buf, unsigned long n);

#endif
