// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A plain libaio program (no kaio-specific code) with IOCB_CMD_POLL: a poll for POLLIN on an
 * empty pipe stays pending (a zero-timeout io_getevents finds nothing) until the pipe is
 * written; a second poll is cancelled with io_cancel and, as in Linux, completes with res 0
 * (a poll's result is the ready mask, and nothing was ready). Prints what it does; exits 0 on
 * success.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libaio.h>

int main(void)
{
	io_context_t ctx = 0;
	struct iocb a, b, *list[2] = { &a, &b };
	struct io_event ev[2];
	struct timespec zero = { 0, 0 }, ten = { 10, 0 };
	int p[2], q[2], r;

	if (pipe(p) || pipe(q)) {
		perror("pipe");
		return 1;
	}
	r = io_setup(4, &ctx);
	printf("io_setup = %d\n", r);
	if (r)
		return 1;
	io_prep_poll(&a, p[0], POLLIN);
	io_prep_poll(&b, q[0], POLLIN);
	r = io_submit(ctx, 2, list);
	printf("io_submit(2 polls) = %d\n", r);
	if (r != 2)
		return 1;
	r = io_getevents(ctx, 0, 2, ev, &zero);
	printf("io_getevents(zero timeout) before any write = %d\n", r);
	if (r != 0)
		return 1;
	if (write(p[1], "x", 1) != 1)
		return 1;
	r = io_getevents(ctx, 1, 1, ev, &ten);
	printf("after writing to the pipe: io_getevents = %d, res %#lx\n", r, r == 1 ? ev[0].res : 0);
	if (r != 1 || ev[0].obj != &a || !(ev[0].res & POLLIN))
		return 1;
	r = io_cancel(ctx, &b, &ev[0]);
	printf("io_cancel(second poll) = %d (want %d)\n", r, -EINPROGRESS);
	if (r != -EINPROGRESS)
		return 1;
	r = io_getevents(ctx, 1, 1, ev, &ten);
	printf("io_getevents = %d, res %ld (want 0)\n", r, r == 1 ? (long)ev[0].res : -1);
	if (r != 1 || ev[0].obj != &b || ev[0].res != 0)
		return 1;
	r = io_destroy(ctx);
	printf("io_destroy = %d\n", r);
	if (r)
		return 1;
	printf("all as expected\n");
	return 0;
}
