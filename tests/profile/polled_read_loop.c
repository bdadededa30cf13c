// SPDX-License-Identifier: GPL-2.0
/*
 * make profile: the loop of make bench's table 7 throughput, for `sample`: N reads of 4096
 * bytes submitted in one call on N empty sockets (AF_UNIX stream pairs) or pipes, a 64-byte
 * write(2) to each peer, the N events reaped; for SECONDS. Prints "ops R" (reads made).
 *   polled_read_loop kaio|uring sock|pipe N SECONDS
 * kaio: a KAIO_SETUP_POLLED_RW context, KAIO_IOC_SUBMIT, the mapped ring first and
 * KAIO_IOC_GETEVENTS for the rest; io_uring: IORING_OP_READ SQEs, io_uring_enter (no flags).
 */
#include <linux/aio_abi.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include "kaio.h"
#include "common.h"
#include "uring.h"

#define MAX_N 64

static int rd[MAX_N], wr[MAX_N];
/* Time inside the submitting call, summed over the rounds. */
static long long submit_ns;
static char bufs[MAX_N][4096];

static void uring_round(struct uring *u, int n, const char *msg)
{
	unsigned tail = *u->sq_tail;
	int reaped = 0;
	long long t0;

	for (int i = 0; i < n; i++, tail++) {
		unsigned idx = tail & *u->sq_mask;
		struct io_uring_sqe *sqe = &u->sqes[idx];

		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_READ;
		sqe->fd = rd[i];
		sqe->addr = (unsigned long)bufs[i];
		sqe->len = sizeof(bufs[i]);
		sqe->user_data = (unsigned)i;
		u->sq_array[idx] = idx;
	}
	__atomic_store_n(u->sq_tail, tail, __ATOMIC_RELEASE);
	t0 = now_ns();
	if (syscall(__NR_io_uring_enter, u->fd, n, 0, 0, NULL, 0) != n)
		die("io_uring_enter submit");
	submit_ns += now_ns() - t0;
	for (int i = 0; i < n; i++)
		if (write(wr[i], msg, 64) != 64)
			die("write");
	while (reaped < n) {
		unsigned head = *u->cq_head;

		while (head != __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE)) {
			if (u->cqes[head & *u->cq_mask].res != 64)
				die("a read's CQE");
			head++;
			reaped++;
		}
		__atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
		if (reaped < n &&
		    syscall(__NR_io_uring_enter, u->fd, 0, n - reaped, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			die("io_uring_enter wait");
	}
}

static void kaio_round(int dev, aio_context_t ctx, int n, const char *msg)
{
	struct iocb cbs[MAX_N], *ptrs[MAX_N];
	struct kaio_submit_args submit = { .ctx_id = ctx, .nr = n, .iocbpp = (unsigned long)ptrs };
	struct kaio_ring *ring = (struct kaio_ring *)ctx;
	struct io_event *events = (struct io_event *)(ring + 1), evs[MAX_N];
	int reaped = 0;
	long long t0;

	for (int i = 0; i < n; i++) {
		cbs[i] = (struct iocb){ .aio_lio_opcode = IOCB_CMD_PREAD, .aio_fildes = (unsigned)rd[i],
					.aio_buf = (unsigned long)bufs[i], .aio_nbytes = sizeof(bufs[i]),
					.aio_data = (unsigned)i };
		ptrs[i] = &cbs[i];
	}
	t0 = now_ns();
	if (ioctl(dev, KAIO_IOC_SUBMIT, &submit) != n)
		die("submit");
	submit_ns += now_ns() - t0;
	for (int i = 0; i < n; i++)
		if (write(wr[i], msg, 64) != 64)
			die("write");
	while (reaped < n) {
		unsigned head = ring->head;

		while (reaped < n && head != __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE)) {
			if (events[head].res != 64)
				die("a read's event");
			head = (head + 1) % ring->nr;
			reaped++;
		}
		__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
		if (reaped < n) {
			struct kaio_getevents_args get = { .ctx_id = ctx, .min_nr = n - reaped, .nr = n - reaped,
							   .events = (unsigned long)evs };
			long got = ioctl(dev, KAIO_IOC_GETEVENTS, &get);

			if (got < 0)
				die("getevents");
			for (long i = 0; i < got; i++)
				if (evs[i].res != 64)
					die("a read's event");
			reaped += (int)got;
		}
	}
}

int main(int argc, char **argv)
{
	int n = argc > 3 ? atoi(argv[3]) : 0, dev = -1, uring_mode;
	double seconds = argc > 4 ? atof(argv[4]) : 0;
	aio_context_t ctx = 0;
	struct uring u = { .fd = -1 };
	long long end, ops = 0, t0;
	char msg[64];

	if (argc != 5 || n < 1 || n > MAX_N || seconds <= 0 ||
	    (strcmp(argv[1], "kaio") && strcmp(argv[1], "uring")) || (strcmp(argv[2], "sock") && strcmp(argv[2], "pipe"))) {
		fprintf(stderr, "usage: polled_read_loop kaio|uring sock|pipe N(1..%d) SECONDS\n", MAX_N);
		return 2;
	}
	uring_mode = strcmp(argv[1], "uring") == 0;
	for (int i = 0; i < n; i++) {
		int p[2];

		if (strcmp(argv[2], "sock") == 0 ? socketpair(AF_UNIX, SOCK_STREAM, 0, p) : pipe(p))
			die("socketpair/pipe");
		rd[i] = p[0];
		wr[i] = p[1];
	}
	if (uring_mode) {
		uring_setup(&u, MAX_N);
	} else {
		struct kaio_setup_args setup = { .nr_events = MAX_N, .flags = KAIO_SETUP_POLLED_RW,
						 .ctxp = (unsigned long)&ctx };

		dev = open("/dev/kaio", O_RDWR);
		if (dev < 0 || ioctl(dev, KAIO_IOC_SETUP, &setup) < 0)
			die("kaio setup");
	}
	memset(msg, 'm', sizeof(msg));
	t0 = now_ns();
	end = t0 + (long long)(seconds * 1e9);
	while (now_ns() < end) {
		if (uring_mode)
			uring_round(&u, n, msg);
		else
			kaio_round(dev, ctx, n, msg);
		ops += n;
	}
	printf("polled_read_loop %s %s N=%d: %.0f ns per read (%.0f in the submitting call)\n", argv[1],
	       argv[2], n, (double)(now_ns() - t0) / (double)ops, (double)submit_ns / (double)ops);
	printf("ops %lld\n", ops);
	return 0;
}
