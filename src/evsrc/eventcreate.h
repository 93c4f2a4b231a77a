#ifndef WSMD_EVENTCREATE_H
#define WSMD_EVENTCREATE_H

/* `wsmd eventcreate ...` (argv after the word): writes one test event to
 * the journal as Windows' eventcreate.exe writes one to the event log.
 * Returns the exit status. */
int wsmd__eventcreate_main(int argc, char **argv);

#endif
