// SPDX-License-Identifier: GPL-2.0
/*
 * make profile: the loop of make bench's table 5 "ALL of N", for `sample`: N POLLs submitted
 * in one call on an empty pipe, one KAIO_IOC_CANCEL_MATCH(ANY) cancelling them all, the N
 * events reaped from the mapped ring; for SECONDS. Prints "ops R" (requests cancelled).
 *   cancel_all_loop N SECONDS
 */
#include <linux/aio_abi.h>
#include <poll.h>
#include <sys/ioctl.h>
#include "kaio.h"
#include "common.h"

#define MAX_N 4096

static struct iocb cbs[MAX_N], *ptrs[MAX_N];

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0, dev, p[2];
	double seconds = argc > 2 ? atof(argv[2]) : 0;
	aio_context_t ctx = 0;
	long long end, ops = 0, t0, in_cancel = 0;

	if (argc != 3 || n < 1 || n > MAX_N || seconds <= 0) {
		fprintf(stderr, "usage: cancel_all_loop N(1..%d) SECONDS\n", MAX_N);
		return 2;
	}
	struct kaio_setup_args setup = { .nr_events = MAX_N, .ctxp = (unsigned long)&ctx };

	dev = open("/dev/kaio", O_RDWR);
	if (dev < 0 || ioctl(dev, KAIO_IOC_SETUP, &setup) < 0 || pipe(p) < 0)
		die("setup");
	for (int i = 0; i < n; i++) {
		cbs[i] = (struct iocb){ .aio_lio_opcode = IOCB_CMD_POLL, .aio_fildes = (unsigned)p[0],
					.aio_buf = POLLIN, .aio_data = (unsigned)i };
		ptrs[i] = &cbs[i];
	}
	t0 = now_ns();
	end = t0 + (long long)(seconds * 1e9);
	while (now_ns() < end) {
		struct kaio_submit_args submit = { .ctx_id = ctx, .nr = n, .iocbpp = (unsigned long)ptrs };
		struct kaio_cancel_match_args cancel = { .ctx_id = ctx, .flags = KAIO_CANCEL_ANY };
		struct kaio_ring *ring = (struct kaio_ring *)ctx;
		struct io_event *events = (struct io_event *)(ring + 1);
		unsigned head = ring->head;
		long long t;
		int reaped = 0;

		if (ioctl(dev, KAIO_IOC_SUBMIT, &submit) != n)
			die("submit");
		t = now_ns();
		if (ioctl(dev, KAIO_IOC_CANCEL_MATCH, &cancel) != n || cancel.nr_running)
			die("cancel ANY");
		in_cancel += now_ns() - t;
		/* Synchronous completion: every event is in the ring when the call returns. */
		while (reaped < n && head != __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE)) {
			if (events[head].res != 0)
				die("a cancelled POLL's event");
			head = (head + 1) % ring->nr;
			reaped++;
		}
		if (reaped != n)
			die("events missing after the cancel");
		__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
		ops += n;
	}
	printf("cancel_all_loop N=%d: %.0f ns per request (submit + cancel + reap), %.0f ns in the cancel call\n", n,
	       (double)(now_ns() - t0) / (double)ops, (double)in_cancel / (double)ops);
	printf("ops %lld\n", ops);
	return 0;
}
