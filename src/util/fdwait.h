/*
 * fdwait.h - waiting on one file descriptor until a deadline.
 *
 * The loop every socket layer of ferry needs (poll() until ready, EINTR
 * retried, a monotonic deadline from util/timeutil.h): hosts/tls.c,
 * dns/dns.c and traffic/haproxy.c each still carry a copy of it.
 */
#ifndef FERRY_UTIL_FDWAIT_H
#define FERRY_UTIL_FDWAIT_H

#include <stdint.h>

/* Waits until fd has one of events (POLLIN, POLLOUT) or an error or hang-up
 * to report.  deadline is a time_mono_ms() value.  Returns 0 (ready: the
 * next call on fd tells which), FERRY_ETIMEDOUT, or FERRY_EIO (poll
 * failed: errno says why). */
int fd_wait(int fd, short events, int64_t deadline);

#endif
