// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A libaio program: io_setup, three KAIO_CMD_DELAY requests through io_submit (1 ms, 2 ms and
 * 60 s; a delay's opcode is set by hand, as no io_prep_* knows it), io_cancel of the 60 s one,
 * io_getevents for all three, io_destroy. Checks libaio's error convention on the way.
 * Prints what it does; exits 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libaio.h>
#include "kaio.h"

static int failures;

#define EXPECT(expr, want)                                                                   \
	do {                                                                                 \
		long got_ = (expr);                                                          \
		printf("%-60s = %ld%s\n", #expr, got_, got_ == (want) ? "" : "   <-- unexpected"); \
		if (got_ != (want)) {                                                        \
			printf("    expected %ld\n", (long)(want));                              \
			failures++;                                                          \
		}                                                                            \
	} while (0)

static void prep_delay(struct iocb *iocb, int fd, long long ns, long tag)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_fildes = fd;
	iocb->aio_lio_opcode = KAIO_CMD_DELAY;
	iocb->u.c.offset = ns;             /* aio_offset: the delay in nanoseconds */
	iocb->data = (void *)tag;
}

int main(void)
{
	io_context_t ctx = 0;
	struct iocb iocbs[3], *list[3] = { &iocbs[0], &iocbs[1], &iocbs[2] };
	struct io_event events[3];
	struct timespec timeout = { 10, 0 };
	int n, done = 0, cancelled = 0;
	int fd = open("/dev/null", O_RDONLY);      /* a delay needs an open descriptor, any one */

	EXPECT(io_setup(16, &ctx), 0);
	if (!ctx) {
		printf("io_setup gave no context\n");
		return 1;
	}
	prep_delay(&iocbs[0], fd, 1000000, 1);
	prep_delay(&iocbs[1], fd, 2000000, 2);
	prep_delay(&iocbs[2], fd, 60000000000LL, 3);
	EXPECT(io_submit(ctx, 3, list), 3);
	EXPECT(io_cancel(ctx, &iocbs[2], &events[0]), -EINPROGRESS);
	EXPECT(io_cancel(ctx, &iocbs[2], &events[0]), -EINVAL);
	n = io_getevents(ctx, 3, 3, events, &timeout);
	EXPECT(n, 3);
	for (int i = 0; i < n && i < 3; i++) {
		long tag = (long)events[i].data, res = (long)events[i].res;

		printf("event %d: data %ld, obj %s, res %ld (%s)\n", i, tag,
		       events[i].obj == &iocbs[tag - 1] ? "matches" : "WRONG", res,
		       res ? strerror((int)-res) : "done");
		if (events[i].obj != &iocbs[tag - 1])
			failures++;
		if (tag == 3 && res == -ECANCELED)
			cancelled++;
		else if (tag != 3 && res == 0)
			done++;
	}
	EXPECT(done, 2);
	EXPECT(cancelled, 1);
	/* Nothing left: a zero timeout returns at once (from the ring, without a system call). */
	timeout.tv_sec = 0;
	EXPECT(io_getevents(ctx, 0, 3, events, &timeout), 0);
	timeout.tv_nsec = 1000;
	EXPECT(io_getevents(ctx, 4, 3, events, &timeout), -EINVAL);
	EXPECT(io_destroy(ctx), 0);
	EXPECT(io_destroy(ctx), -EINVAL);
	printf("%s\n", failures ? "FAILED" : "all as expected");
	return failures != 0;
}
