#include "sdbus_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>

static struct {
    int (*open_system)(sd_bus **);
    sd_bus *(*flush_close_unref)(sd_bus *);
    int (*set_method_call_timeout)(sd_bus *, uint64_t);
    int (*call_methodv)(sd_bus *, const char *, const char *, const char *, const char *,
                        sd_bus_error *, sd_bus_message **, const char *, va_list);
    int (*call)(sd_bus *, sd_bus_message *, uint64_t, sd_bus_error *, sd_bus_message **);
    int (*message_new_method_call)(sd_bus *, sd_bus_message **, const char *, const char *,
                                   const char *, const char *);
    int (*message_appendv)(sd_bus_message *, const char *, va_list);
    int (*message_append_strv)(sd_bus_message *, char **);
    int (*message_readv)(sd_bus_message *, const char *, va_list);
    int (*message_read_basic)(sd_bus_message *, char, void *);
    int (*message_enter_container)(sd_bus_message *, char, const char *);
    int (*message_exit_container)(sd_bus_message *);
    int (*message_skip)(sd_bus_message *, const char *);
    int (*message_peek_type)(sd_bus_message *, char *, const char **);
    int (*message_at_end)(sd_bus_message *, int);
    sd_bus_message *(*message_unref)(sd_bus_message *);
    void (*error_free)(sd_bus_error *);
    int (*error_has_name)(const sd_bus_error *, const char *);
    int (*path_encode)(const char *, const char *, char **);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded = -ENOSYS;

static void load(void)
{
    /* Kept for the life of the process once loaded. */
    void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
#define SYM(field, name)                                                                           \
    if (!(*(void **)&fn.field = dlsym(h, name)))                                                   \
    return
    SYM(open_system, "sd_bus_open_system");
    SYM(flush_close_unref, "sd_bus_flush_close_unref");
    SYM(set_method_call_timeout, "sd_bus_set_method_call_timeout");
    SYM(call_methodv, "sd_bus_call_methodv");
    SYM(call, "sd_bus_call");
    SYM(message_new_method_call, "sd_bus_message_new_method_call");
    SYM(message_appendv, "sd_bus_message_appendv");
    SYM(message_append_strv, "sd_bus_message_append_strv");
    SYM(message_readv, "sd_bus_message_readv");
    SYM(message_read_basic, "sd_bus_message_read_basic");
    SYM(message_enter_container, "sd_bus_message_enter_container");
    SYM(message_exit_container, "sd_bus_message_exit_container");
    SYM(message_skip, "sd_bus_message_skip");
    SYM(message_peek_type, "sd_bus_message_peek_type");
    SYM(message_at_end, "sd_bus_message_at_end");
    SYM(message_unref, "sd_bus_message_unref");
    SYM(error_free, "sd_bus_error_free");
    SYM(error_has_name, "sd_bus_error_has_name");
    SYM(path_encode, "sd_bus_path_encode");
#undef SYM
    loaded = 0;
}

int sdbus_dl_load(void)
{
    pthread_once(&once, load);
    return loaded;
}

/* Only open_system can come first: every other call needs a bus or a
 * message that it made, so the library is loaded by then. */
int sdbus_dl_open_system(sd_bus **bus)
{
    int r = sdbus_dl_load();
    return r < 0 ? r : fn.open_system(bus);
}

sd_bus *sdbus_dl_flush_close_unref(sd_bus *bus)
{
    return bus ? fn.flush_close_unref(bus) : NULL;
}

int sdbus_dl_set_method_call_timeout(sd_bus *bus, uint64_t usec)
{
    return fn.set_method_call_timeout(bus, usec);
}

int sdbus_dl_call_method(sd_bus *bus, const char *destination, const char *path,
                         const char *interface, const char *member, sd_bus_error *ret_error,
                         sd_bus_message **reply, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int r = fn.call_methodv(bus, destination, path, interface, member, ret_error, reply, types, ap);
    va_end(ap);
    return r;
}

int sdbus_dl_call(sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error,
                  sd_bus_message **reply)
{
    return fn.call(bus, m, usec, ret_error, reply);
}

int sdbus_dl_message_new_method_call(sd_bus *bus, sd_bus_message **m, const char *destination,
                                     const char *path, const char *interface, const char *member)
{
    return fn.message_new_method_call(bus, m, destination, path, interface, member);
}

int sdbus_dl_message_append(sd_bus_message *m, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int r = fn.message_appendv(m, types, ap);
    va_end(ap);
    return r;
}

int sdbus_dl_message_append_strv(sd_bus_message *m, char **l)
{
    return fn.message_append_strv(m, l);
}

int sdbus_dl_message_read(sd_bus_message *m, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int r = fn.message_readv(m, types, ap);
    va_end(ap);
    return r;
}

int sdbus_dl_message_read_basic(sd_bus_message *m, char type, void *p)
{
    return fn.message_read_basic(m, type, p);
}

int sdbus_dl_message_enter_container(sd_bus_message *m, char type, const char *contents)
{
    return fn.message_enter_container(m, type, contents);
}

int sdbus_dl_message_exit_container(sd_bus_message *m)
{
    return fn.message_exit_container(m);
}

int sdbus_dl_message_skip(sd_bus_message *m, const char *types)
{
    return fn.message_skip(m, types);
}

int sdbus_dl_message_peek_type(sd_bus_message *m, char *type, const char **contents)
{
    return fn.message_peek_type(m, type, contents);
}

int sdbus_dl_message_at_end(sd_bus_message *m, int complete)
{
    return fn.message_at_end(m, complete);
}

sd_bus_message *sdbus_dl_message_unref(sd_bus_message *m)
{
    return m && fn.message_unref ? fn.message_unref(m) : NULL;
}

void sdbus_dl_error_free(sd_bus_error *e)
{
    /* Errors are declared (SD_BUS_ERROR_NULL) and freed even when the
     * library never loaded: nothing to free then. */
    if (fn.error_free)
        fn.error_free(e);
}

int sdbus_dl_error_has_name(const sd_bus_error *e, const char *name)
{
    return fn.error_has_name ? fn.error_has_name(e, name) : 0;
}

int sdbus_dl_path_encode(const char *prefix, const char *external_id, char **ret_path)
{
    int r = sdbus_dl_load();
    return r < 0 ? r : fn.path_encode(prefix, external_id, ret_path);
}
