#include "sdj_dl.h"

#include <dlfcn.h>
#include <pthread.h>

static struct wsmd_sdj fn;
static const struct wsmd_sdj *loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    /* Kept for the life of the process once loaded (RTLD_NODELETE makes a
     * second dlopen elsewhere, such as sdbus_dl.c's, share it). */
    void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h)
        return;
#define SYM(field, name)                                                                           \
    if (!(*(void **)&fn.field = dlsym(h, name)))                                                   \
    return
    SYM(open, "sd_journal_open");
    SYM(open_directory, "sd_journal_open_directory");
    SYM(close, "sd_journal_close");
    SYM(next, "sd_journal_next");
    SYM(previous, "sd_journal_previous");
    SYM(seek_head, "sd_journal_seek_head");
    SYM(seek_tail, "sd_journal_seek_tail");
    SYM(seek_cursor, "sd_journal_seek_cursor");
    SYM(test_cursor, "sd_journal_test_cursor");
    SYM(get_cursor, "sd_journal_get_cursor");
    SYM(get_realtime_usec, "sd_journal_get_realtime_usec");
    SYM(enumerate_data, "sd_journal_enumerate_data");
    SYM(restart_data, "sd_journal_restart_data");
    SYM(set_data_threshold, "sd_journal_set_data_threshold");
    SYM(get_fd, "sd_journal_get_fd");
    SYM(process, "sd_journal_process");
    SYM(get_usage, "sd_journal_get_usage");
    SYM(sendv, "sd_journal_sendv");
#undef SYM
    loaded = &fn;
}

const struct wsmd_sdj *wsmd__sdj(void)
{
    pthread_once(&once, load);
    return loaded;
}
