// SPDX-License-Identifier: GPL-2.0
/*
 * make profile: what the one call that submits a request left waiting on an empty pipe costs,
 * interface by interface, and the same call with nothing to submit (the call's own cost):
 * native io_submit and KAIO_IOC_SUBMIT of one IOCB_CMD_POLL, KAIO_IOC_SUBMIT of one
 * IOCB_CMD_PREAD in a KAIO_SETUP_POLLED_RW context, io_uring_enter of one IORING_OP_POLL_ADD
 * and of one IORING_OP_READ. After each timed call a 1-byte write(2) completes the request,
 * its event is reaped and the byte read back, so every call finds the same state. The
 * variants take turns in batches; printed: the median over the batches of each batch's
 * median, and per variant the request's part (the call minus the same interface's empty call).
 *   submit_cost ROUNDS
 */
#include <linux/aio_abi.h>
#include <poll.h>
#include <sys/ioctl.h>
#include "kaio.h"
#include "common.h"
#include "uring.h"

#define BATCHES 9

enum variant {
	NATIVE_POLL, KAIO_POLL, KAIO_POLLED_READ, URING_POLL, URING_READ,
	NATIVE_EMPTY, KAIO_EMPTY, URING_EMPTY, VARIANTS
};

static const char *const names[VARIANTS] = {
	[NATIVE_POLL] = "native io_submit, one POLL",
	[KAIO_POLL] = "KAIO_IOC_SUBMIT, one POLL",
	[KAIO_POLLED_READ] = "KAIO_IOC_SUBMIT, one polled PREAD",
	[URING_POLL] = "io_uring_enter, one POLL_ADD",
	[URING_READ] = "io_uring_enter, one READ",
	[NATIVE_EMPTY] = "native io_submit, nr = 0",
	[KAIO_EMPTY] = "KAIO_IOC_SUBMIT, nr = 0",
	[URING_EMPTY] = "io_uring_enter, to_submit = 0",
};

/* The empty call of each request variant's interface. */
static const enum variant empty_of[URING_READ + 1] = {
	[NATIVE_POLL] = NATIVE_EMPTY, [KAIO_POLL] = KAIO_EMPTY, [KAIO_POLLED_READ] = KAIO_EMPTY,
	[URING_POLL] = URING_EMPTY, [URING_READ] = URING_EMPTY,
};

static int rd, wr, dev;
static aio_context_t native_ctx, kaio_ctx, kaio_polled_ctx;
static struct uring u;
static char buf[4096];

static void setup(void)
{
	struct kaio_setup_args plain = { .nr_events = 16, .ctxp = (unsigned long)&kaio_ctx };
	struct kaio_setup_args polled = { .nr_events = 16, .flags = KAIO_SETUP_POLLED_RW,
					  .ctxp = (unsigned long)&kaio_polled_ctx };
	int p[2];

	if (pipe(p))
		die("pipe");
	rd = p[0];
	wr = p[1];
	dev = open("/dev/kaio", O_RDWR);
	if (dev < 0 || ioctl(dev, KAIO_IOC_SETUP, &plain) < 0 || ioctl(dev, KAIO_IOC_SETUP, &polled) < 0)
		die("kaio setup");
	if (syscall(__NR_io_setup, 16, &native_ctx))
		die("io_setup");
	uring_setup(&u, 16);
}

/* Queues one SQE (not submitted yet). */
static void uring_queue(enum variant v)
{
	unsigned tail = *u.sq_tail, idx = tail & *u.sq_mask;
	struct io_uring_sqe *sqe = &u.sqes[idx];

	memset(sqe, 0, sizeof(*sqe));
	sqe->fd = rd;
	if (v == URING_POLL) {
		sqe->opcode = IORING_OP_POLL_ADD;
		sqe->poll32_events = POLLIN;
	} else {
		sqe->opcode = IORING_OP_READ;
		sqe->addr = (unsigned long)buf;
		sqe->len = sizeof(buf);
	}
	u.sq_array[idx] = idx;
	__atomic_store_n(u.sq_tail, tail + 1, __ATOMIC_RELEASE);
}

/* Reaps the one event of a kaio context: from its ring, else by KAIO_IOC_GETEVENTS. */
static void kaio_reap(aio_context_t ctx)
{
	struct kaio_ring *ring = (struct kaio_ring *)ctx;
	struct io_event ev;
	struct kaio_getevents_args get = { .ctx_id = ctx, .min_nr = 1, .nr = 1, .events = (unsigned long)&ev };
	unsigned head = ring->head;

	if (head != __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE)) {
		ev = ((struct io_event *)(ring + 1))[head];
		__atomic_store_n(&ring->head, (head + 1) % ring->nr, __ATOMIC_RELEASE);
	} else if (ioctl(dev, KAIO_IOC_GETEVENTS, &get) != 1) {
		die("KAIO_IOC_GETEVENTS");
	}
	if (ev.res <= 0)
		die("a kaio event");
}

static void uring_reap(void)
{
	unsigned head = *u.cq_head;

	while (head == __atomic_load_n(u.cq_tail, __ATOMIC_ACQUIRE))
		if (syscall(__NR_io_uring_enter, u.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			die("io_uring_enter wait");
	if (u.cqes[head & *u.cq_mask].res <= 0)
		die("a CQE");
	__atomic_store_n(u.cq_head, head + 1, __ATOMIC_RELEASE);
}

/* One timed call of variant v, then (for a request) its completion; returns ns in the call. */
static long long one(enum variant v)
{
	struct iocb cb = { .aio_fildes = (unsigned)rd };
	struct iocb *cbs[1] = { &cb };
	struct kaio_submit_args submit = { .ctx_id = v == KAIO_POLLED_READ ? kaio_polled_ctx : kaio_ctx,
					   .nr = v == KAIO_EMPTY ? 0 : 1, .iocbpp = (unsigned long)cbs };
	struct io_event ev;
	long long t0, took;
	long r = 0, want = 1;

	if (v == KAIO_POLLED_READ) {
		cb.aio_lio_opcode = IOCB_CMD_PREAD;
		cb.aio_buf = (unsigned long)buf;
		cb.aio_nbytes = sizeof(buf);
	} else {
		cb.aio_lio_opcode = IOCB_CMD_POLL;
		cb.aio_buf = POLLIN;
	}
	if (v == URING_POLL || v == URING_READ)
		uring_queue(v);
	t0 = now_ns();
	switch (v) {
	case NATIVE_POLL:
	case NATIVE_EMPTY:
		want = v == NATIVE_POLL;
		r = syscall(__NR_io_submit, native_ctx, want, cbs);
		break;
	case KAIO_POLL:
	case KAIO_POLLED_READ:
	case KAIO_EMPTY:
		want = submit.nr;
		r = ioctl(dev, KAIO_IOC_SUBMIT, &submit);
		break;
	case URING_POLL:
	case URING_READ:
	case URING_EMPTY:
		want = v != URING_EMPTY;
		r = syscall(__NR_io_uring_enter, u.fd, want, 0, 0, NULL, 0);
		break;
	case VARIANTS:
		break;
	}
	took = now_ns() - t0;
	if (r != want)
		die(names[v]);
	if (!want)
		return took;
	if (write(wr, "x", 1) != 1)
		die("write");
	switch (v) {
	case NATIVE_POLL:
		if (syscall(__NR_io_getevents, native_ctx, 1, 1, &ev, NULL) != 1 || ev.res <= 0)
			die("io_getevents");
		break;
	case KAIO_POLL:
	case KAIO_POLLED_READ:
		kaio_reap(v == KAIO_POLL ? kaio_ctx : kaio_polled_ctx);
		break;
	default:
		uring_reap();
		break;
	}
	/* A POLL leaves the byte in the pipe; a read took it. */
	if (v != KAIO_POLLED_READ && v != URING_READ && read(rd, buf, 1) != 1)
		die("read");
	return took;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 4000;
	long long batch[BATCHES][VARIANTS], med[VARIANTS], col[BATCHES];
	long long *took = calloc(rounds, sizeof(*took));

	if (rounds < 1 || !took)
		die("usage: submit_cost ROUNDS");
	setup();
	for (int b = 0; b < BATCHES; b++) {
		for (int v = 0; v < VARIANTS; v++) {
			/* Untimed first: the switch from the previous variant is not this one's cost. */
			for (int i = 0; i < 100; i++)
				one(v);
			for (int i = 0; i < rounds; i++)
				took[i] = one(v);
			batch[b][v] = median(took, rounds);
		}
	}
	for (int v = 0; v < VARIANTS; v++) {
		for (int b = 0; b < BATCHES; b++)
			col[b] = batch[b][v];
		med[v] = median(col, BATCHES);
	}
	printf("submit_cost: ns in the call, median of %d batches of %d (batch medians):\n", BATCHES, rounds);
	for (int v = 0; v < VARIANTS; v++) {
		printf("  %-36s %6lld", names[v], med[v]);
		if (v <= URING_READ)
			printf("   the request's part %6lld", med[v] - med[empty_of[v]]);
		printf("\n");
	}
	return 0;
}
