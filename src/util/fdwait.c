/*
 * fdwait.c - see fdwait.h.
 */
#include <errno.h>
#include <poll.h>

#include "util/error.h"
#include "util/fdwait.h"
#include "util/timeutil.h"

int fd_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - time_mono_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int rc;

		if (left <= 0)
			return FERRY_ETIMEDOUT;
		rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return FERRY_EIO;
	}
}
