/* sd-bus through dlopen: the service provider talks to systemd over D-Bus,
 * but libsystemd (and what it pulls in: libgcrypt, liblz4, libzstd, libcap
 * ... about 800 KB of resident memory) is loaded only the first time a
 * service is asked for, and never on hosts without systemd. Include this
 * right after <systemd/sd-bus.h>: the sd_bus_* names used by service.c, svcbus.c and svcmethods.c
 * become calls through pointers resolved from libsystemd.so.0. */
#ifndef WSMD_SDBUS_DL_H
#define WSMD_SDBUS_DL_H

#include <systemd/sd-bus.h>

/* Loads libsystemd.so.0 once; 0 on success, -ENOSYS if it is missing. */
int sdbus_dl_load(void);

/* Every function the service provider calls, under its own name. */
int sdbus_dl_open_system(sd_bus **bus);
sd_bus *sdbus_dl_flush_close_unref(sd_bus *bus);
int sdbus_dl_set_method_call_timeout(sd_bus *bus, uint64_t usec);
int sdbus_dl_call_method(sd_bus *bus, const char *destination, const char *path,
                         const char *interface, const char *member, sd_bus_error *ret_error,
                         sd_bus_message **reply, const char *types, ...);
int sdbus_dl_call(sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error,
                  sd_bus_message **reply);
int sdbus_dl_message_new_method_call(sd_bus *bus, sd_bus_message **m, const char *destination,
                                     const char *path, const char *interface, const char *member);
int sdbus_dl_message_append(sd_bus_message *m, const char *types, ...);
int sdbus_dl_message_append_strv(sd_bus_message *m, char **l);
int sdbus_dl_message_read(sd_bus_message *m, const char *types, ...);
int sdbus_dl_message_read_basic(sd_bus_message *m, char type, void *p);
int sdbus_dl_message_enter_container(sd_bus_message *m, char type, const char *contents);
int sdbus_dl_message_exit_container(sd_bus_message *m);
int sdbus_dl_message_skip(sd_bus_message *m, const char *types);
int sdbus_dl_message_peek_type(sd_bus_message *m, char *type, const char **contents);
int sdbus_dl_message_at_end(sd_bus_message *m, int complete);
sd_bus_message *sdbus_dl_message_unref(sd_bus_message *m);
void sdbus_dl_error_free(sd_bus_error *e);
int sdbus_dl_error_has_name(const sd_bus_error *e, const char *name);
int sdbus_dl_path_encode(const char *prefix, const char *external_id, char **ret_path);

#define sd_bus_open_system sdbus_dl_open_system
#define sd_bus_flush_close_unref sdbus_dl_flush_close_unref
#define sd_bus_set_method_call_timeout sdbus_dl_set_method_call_timeout
#define sd_bus_call_method sdbus_dl_call_method
#define sd_bus_call sdbus_dl_call
#define sd_bus_message_new_method_call sdbus_dl_message_new_method_call
#define sd_bus_message_append sdbus_dl_message_append
#define sd_bus_message_append_strv sdbus_dl_message_append_strv
#define sd_bus_message_read sdbus_dl_message_read
#define sd_bus_message_read_basic sdbus_dl_message_read_basic
#define sd_bus_message_enter_container sdbus_dl_message_enter_container
#define sd_bus_message_exit_container sdbus_dl_message_exit_container
#define sd_bus_message_skip sdbus_dl_message_skip
#define sd_bus_message_peek_type sdbus_dl_message_peek_type
#define sd_bus_message_at_end sdbus_dl_message_at_end
#define sd_bus_message_unref sdbus_dl_message_unref
#define sd_bus_error_free sdbus_dl_error_free
#define sd_bus_error_has_name sdbus_dl_error_has_name
#define sd_bus_path_encode sdbus_dl_path_encode

#endif
