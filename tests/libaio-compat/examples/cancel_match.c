// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The version 2 cancel, from a libaio program: four POLLs on the read end of an empty pipe
 * (tagged 1 to 4) and one 60 s KAIO_CMD_DELAY (tagged 7) are submitted; then
 *   - io_cancel of the first poll: -EINPROGRESS, and its event (res 0) is already in the ring
 *     (io_getevents with a zero timeout finds it);
 *   - kaio_cancel_match by data, RESULT mode: the delay's event (res -ECANCELED) comes back in
 *     `result` and never reaches the ring;
 *   - kaio_cancel_match by file, ALL: the three other polls, count 3, events in the ring;
 *   - kaio_cancel_match by file again: -ENOENT (nothing in flight on that pipe).
 * Prints what it does; exits 0 on success.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libaio.h>
#include "kaio.h"

static int failures;

#define EXPECT(expr, want)                                                                   \
	do {                                                                                 \
		long got_ = (expr);                                                          \
		printf("%-64s = %ld%s\n", #expr, got_, got_ == (want) ? "" : "   <-- unexpected"); \
		if (got_ != (want)) {                                                        \
			printf("    expected %ld\n", (long)(want));                              \
			failures++;                                                          \
		}                                                                            \
	} while (0)

int main(void)
{
	io_context_t ctx = 0;
	struct iocb polls[4], delay, *list[5];
	struct io_event ev[8];
	struct timespec now = { 0, 0 };
	int pipefd[2];

	if (pipe(pipefd) != 0) {
		perror("pipe");
		return 1;
	}
	EXPECT(io_setup(16, &ctx), 0);
	for (int i = 0; i < 4; i++) {
		io_prep_poll(&polls[i], pipefd[0], POLLIN);
		polls[i].data = (void *)(long)(i + 1);
		list[i] = &polls[i];
	}
	memset(&delay, 0, sizeof(delay));
	delay.aio_fildes = pipefd[0];
	delay.aio_lio_opcode = KAIO_CMD_DELAY;
	delay.u.c.offset = 60LL * 1000 * 1000 * 1000; /* 60 s, in nanoseconds */
	delay.data = (void *)7L;
	list[4] = &delay;
	EXPECT(io_submit(ctx, 5, list), 5);

	/* io_cancel: the event is in the ring when the call returns. */
	EXPECT(io_cancel(ctx, &polls[0], &ev[0]), -EINPROGRESS);
	EXPECT(io_getevents(ctx, 0, 8, ev, &now), 1);
	EXPECT((long)ev[0].data, 1);
	EXPECT(ev[0].res, 0);

	/* By aio_data, the io_cancel(2) man page's way: the event comes back in `result`. */
	struct io_event result;
	struct kaio_cancel_match_args by_data = {
		.flags = KAIO_CANCEL_DATA | KAIO_CANCEL_RESULT,
		.key = 7,
		.result = (__u64)(unsigned long)&result,
	};
	EXPECT(kaio_cancel_match(ctx, &by_data), 0);
	EXPECT((long)result.data, 7);
	EXPECT(result.res, -ECANCELED);
	EXPECT(io_getevents(ctx, 0, 8, ev, &now), 0);

	/* Every request on the pipe's read end: the three polls left. */
	struct kaio_cancel_match_args by_file = {
		.flags = KAIO_CANCEL_FD | KAIO_CANCEL_ALL,
		.fd = pipefd[0],
	};
	EXPECT(kaio_cancel_match(ctx, &by_file), 3);
	EXPECT(by_file.nr_running, 0);
	EXPECT(io_getevents(ctx, 0, 8, ev, &now), 3);
	for (int i = 0; i < 3; i++)
		EXPECT(ev[i].res, 0);
	EXPECT(kaio_cancel_match(ctx, &by_file), -ENOENT);

	EXPECT(io_destroy(ctx), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	printf("%s\n", failures ? "FAILED" : "ok");
	return failures != 0;
}
