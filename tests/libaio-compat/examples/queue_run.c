// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A libaio program in the old queue style: io_queue_init, requests with io_set_callback,
 * io_queue_run until every callback has run, io_queue_release. The requests are kaio delays
 * (1 to 4 ms) on stdin's descriptor. Prints what it does; exits 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libaio.h>
#include "kaio.h"

/* A delay request needs an open descriptor, any one. */
static int null_fd;

#define NR 4

static io_context_t ctx;
static struct iocb iocbs[NR];
static int calls[NR], bad;

static void done(io_context_t c, struct iocb *iocb, long res, long res2)
{
	long i = iocb - iocbs;

	printf("callback: iocb %ld, res %ld, res2 %ld\n", i, res, res2);
	if (c != ctx || i < 0 || i >= NR || res != 0 || res2 != 0)
		bad++;
	else
		calls[i]++;
}

int main(void)
{
	struct iocb *list[NR];
	struct timespec ms = { 0, 1000000 }, deadline;
	int r, total = 0;

	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0) {
		perror("/dev/null");
		return 1;
	}

	r = io_queue_init(0, &ctx);
	printf("io_queue_init(0) = %d (want %d)\n", r, -EINVAL);
	if (r != -EINVAL)
		return 1;
	r = io_queue_init(NR, &ctx);
	printf("io_queue_init(%d) = %d\n", NR, r);
	if (r)
		return 1;
	for (int i = 0; i < NR; i++) {
		memset(&iocbs[i], 0, sizeof(iocbs[i]));
		iocbs[i].aio_fildes = null_fd;
		iocbs[i].aio_lio_opcode = KAIO_CMD_DELAY;
		iocbs[i].u.c.offset = (i + 1) * 1000000LL;
		io_set_callback(&iocbs[i], done);
		list[i] = &iocbs[i];
	}
	r = io_queue_run(ctx);
	printf("io_queue_run before submitting = %d\n", r);
	if (r)
		return 1;
	r = io_submit(ctx, NR, list);
	printf("io_submit(%d) = %d\n", NR, r);
	if (r != NR)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 10;
	while (total < NR) {
		struct timespec now;

		r = io_queue_run(ctx);
		if (r < 0) {
			printf("io_queue_run = %d\n", r);
			return 1;
		}
		total = 0;
		for (int i = 0; i < NR; i++)
			total += calls[i];
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec) {
			printf("timed out with %d callbacks\n", total);
			return 1;
		}
		nanosleep(&ms, NULL);
	}
	for (int i = 0; i < NR; i++)
		if (calls[i] != 1)
			bad++;
	r = io_queue_release(ctx);
	printf("io_queue_release = %d\n", r);
	if (r)
		bad++;
	r = io_queue_release(ctx);
	printf("io_queue_release again = %d (want %d)\n", r, -EINVAL);
	if (r != -EINVAL)
		bad++;
	printf("%s\n", bad ? "FAILED" : "every callback ran once");
	return bad != 0;
}
