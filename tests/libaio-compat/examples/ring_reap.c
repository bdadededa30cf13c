// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * User-space reaping, as fio's userspace_reap does: submit delays through libaio, then read
 * the completions straight from the ring mapped at the context address (head, tail and the
 * events after the 32-byte header) and advance head, with no io_getevents. Then check that
 * the kernel saw the new head: io_getevents finds nothing more, and the slots are reusable
 * (two more rounds than the ring holds). Prints what it does; exits 0 on success.
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

#define NR 8

static int reap(io_context_t ctx, struct io_event *out, int max)
{
	struct kaio_ring *ring = (struct kaio_ring *)ctx;
	struct io_event *events = (struct io_event *)(ring + 1);
	unsigned head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
	unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
	int n = 0;

	while (head != tail && n < max) {
		out[n++] = events[head];
		head = (head + 1) % ring->nr;
	}
	__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	return n;
}

int main(void)
{
	io_context_t ctx = 0;
	struct iocb iocbs[NR], *list[NR];
	struct io_event ev[NR];
	struct timespec zero = { 0, 0 }, ms = { 0, 1000000 };
	struct kaio_ring *ring;
	int r, rounds;

	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0) {
		perror("/dev/null");
		return 1;
	}

	r = io_setup(NR, &ctx);
	printf("io_setup = %d\n", r);
	if (r)
		return 1;
	ring = (struct kaio_ring *)ctx;
	printf("ring: nr %u, head %u, tail %u, magic %#x, compat %u, incompat %u, header %u\n",
	       ring->nr, ring->head, ring->tail, ring->magic, ring->compat_features,
	       ring->incompat_features, ring->header_length);
	if (ring->magic != KAIO_RING_MAGIC || ring->incompat_features != 0 ||
	    ring->header_length != sizeof(*ring) || ring->nr < NR)
		return 1;
	rounds = 2 * ring->nr / NR + 2;
	for (int round = 0; round < rounds; round++) {
		int got = 0, waited = 0;

		for (int i = 0; i < NR; i++) {
			memset(&iocbs[i], 0, sizeof(iocbs[i]));
			iocbs[i].aio_fildes = null_fd;
			iocbs[i].aio_lio_opcode = KAIO_CMD_DELAY;
			iocbs[i].u.c.offset = 10000 * i;
			iocbs[i].data = (void *)(long)(round * NR + i);
			list[i] = &iocbs[i];
		}
		r = io_submit(ctx, NR, list);
		if (r != NR) {
			printf("round %d: io_submit = %d\n", round, r);
			return 1;
		}
		while (got < NR && waited < 10000) {
			int n = reap(ctx, ev + got, NR - got);

			for (int i = 0; i < n; i++) {
				long d = (long)ev[got + i].data;

				if (d < round * NR || d >= (round + 1) * NR || ev[got + i].res != 0 ||
				    ev[got + i].obj != &iocbs[d - round * NR]) {
					printf("round %d: bad event data %ld res %ld\n", round, d,
					       (long)ev[got + i].res);
					return 1;
				}
			}
			got += n;
			if (got < NR) {
				nanosleep(&ms, NULL);
				waited++;
			}
		}
		printf("round %d: reaped %d events from the ring, head %u tail %u\n", round, got,
		       ring->head, ring->tail);
		if (got != NR)
			return 1;
		r = io_getevents(ctx, 0, NR, ev, &ms);
		if (r != 0) {
			printf("round %d: io_getevents after reaping = %d (want 0)\n", round, r);
			return 1;
		}
	}
	r = io_getevents(ctx, 0, NR, ev, &zero);
	printf("io_getevents(zero timeout) = %d\n", r);
	r = io_destroy(ctx);
	printf("io_destroy = %d\n", r);
	if (r)
		return 1;
	printf("all as expected\n");
	return 0;
}
