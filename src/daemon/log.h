#ifndef WSMD_LOG_H
#define WSMD_LOG_H

/* Priorities as syslog(3) and journald number them. */
#define WSMD_LOG_ERR 3
#define WSMD_LOG_WARNING 4
#define WSMD_LOG_NOTICE 5
#define WSMD_LOG_INFO 6
#define WSMD_LOG_DEBUG 7

/* LogLevel = error|warning|info|debug (case ignored): the priority at and
 * above which lines are written (warning includes notices). -1 for an
 * unknown word. */
int wsmd__log_level_parse(const char *word);
void wsmd__log_set_level(int prio);
/* Whether a line of that priority would be written: for lines that cost
 * something to build. */
int wsmd__log_enabled(int prio);
/* A line at a given priority (wsmd__log guesses it from the event name). */
void wsmd__logp(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The priority wsmd__log gives a line (exposed for the unit test). */
int wsmd__log_prio_of(const char *line);

#endif
