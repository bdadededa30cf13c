// SPDX-License-Identifier: GPL-2.0
/*
 * make profile: KAIO_IOC_CANCEL of a POLL pending on an empty pipe, then its event reaped
 * from the mapped ring (table 5's "kaio CANCEL ring" at N = 1). Prints the median of N
 * rounds; the last round is framed by trace marks.
 *   cancel_path N
 */
#include <errno.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <linux/aio_abi.h>
#include "kaio.h"
#include "common.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int dev = open("/dev/kaio", O_RDWR);
	aio_context_t ctx = 0;
	struct kaio_setup_args setup = { .nr_events = 16, .ctxp = (unsigned long)&ctx };
	long long *took = calloc(n, sizeof(*took));
	int p[2];

	if (dev < 0 || ioctl(dev, KAIO_IOC_SETUP, &setup) < 0 || pipe(p) < 0 || !took)
		die("setup");
	for (int i = 0; i < n; i++) {
		struct iocb cb = { .aio_lio_opcode = IOCB_CMD_POLL, .aio_fildes = p[0],
				   .aio_buf = POLLIN, .aio_data = i };
		struct iocb *cbs[1] = { &cb };
		struct kaio_submit_args submit = { .ctx_id = ctx, .nr = 1, .iocbpp = (unsigned long)cbs };
		struct io_event ev, *events;
		struct kaio_cancel_args cancel = { .ctx_id = ctx, .iocb = (unsigned long)&cb,
						   .result = (unsigned long)&ev };
		struct kaio_ring *ring = (struct kaio_ring *)ctx;
		unsigned int head, tail;
		long long t0;
		int r;

		if (ioctl(dev, KAIO_IOC_SUBMIT, &submit) != 1)
			die("submit");
		if (i == n - 1)
			mark("kaio-profile: begin cancel");
		t0 = now_ns();
		r = ioctl(dev, KAIO_IOC_CANCEL, &cancel);
		head = ring->head;
		tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
		if (r != -1 || errno != EINPROGRESS || head == tail)
			die("cancel: no EINPROGRESS or no event in the ring");
		events = (struct io_event *)(ring + 1);
		ev = events[head];
		__atomic_store_n(&ring->head, (head + 1) % ring->nr, __ATOMIC_RELEASE);
		took[i] = now_ns() - t0;
		if (i == n - 1)
			mark("kaio-profile: end");
		if (ev.data != (unsigned long long)i || ev.res != 0)
			die("the cancelled event");
	}
	printf("cancel_path: KAIO_IOC_CANCEL + ring, median of %d: %lld ns\n", n, median(took, n));
	return 0;
}
