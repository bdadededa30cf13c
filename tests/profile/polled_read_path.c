// SPDX-License-Identifier: GPL-2.0
/*
 * make profile: a 4096-byte PREAD on an empty pipe in a KAIO_SETUP_POLLED_RW context, made
 * ready by a 64-byte write(2) from the same thread, reaped from the mapped ring, with
 * KAIO_IOC_GETEVENTS for an event not there yet (table 7's "kaio ring" at N = 1), against
 * write(2) + read(2). Prints the medians of N rounds (the write, which makes the read on its
 * way back to user space, and the reaping apart); the last round is framed by trace marks.
 *   polled_read_path N
 */
#include <sys/ioctl.h>
#include <linux/aio_abi.h>
#include "kaio.h"
#include "common.h"

/* Writes the message to the pipe: how long write(2) took. */
static long long timed_write(int fd, const char *msg, size_t len)
{
	long long t0 = now_ns();

	if (write(fd, msg, len) != (ssize_t)len)
		die("write");
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int dev = open("/dev/kaio", O_RDWR);
	aio_context_t ctx = 0;
	struct kaio_setup_args setup = { .nr_events = 16, .flags = KAIO_SETUP_POLLED_RW,
					 .ctxp = (unsigned long)&ctx };
	long long *w = calloc(n, sizeof(*w)), *g = calloc(n, sizeof(*g)), *s = calloc(n, sizeof(*s));
	long long *sw = calloc(n, sizeof(*sw)), *sr = calloc(n, sizeof(*sr));
	int getevents = 0;
	char buf[4096], msg[64];
	int p[2];

	if (dev < 0 || ioctl(dev, KAIO_IOC_SETUP, &setup) < 0 || pipe(p) < 0 || !w || !g || !s || !sw || !sr)
		die("setup");
	memset(msg, 'm', sizeof(msg));
	for (int i = 0; i < n; i++) {
		struct iocb cb = { .aio_lio_opcode = IOCB_CMD_PREAD, .aio_fildes = p[0],
				   .aio_buf = (unsigned long)buf, .aio_nbytes = sizeof(buf), .aio_data = i };
		struct iocb *cbs[1] = { &cb };
		struct kaio_submit_args submit = { .ctx_id = ctx, .nr = 1, .iocbpp = (unsigned long)cbs };
		struct io_event ev;
		struct kaio_getevents_args get = { .ctx_id = ctx, .min_nr = 1, .nr = 1,
						   .events = (unsigned long)&ev };
		struct kaio_ring *ring = (struct kaio_ring *)ctx;
		unsigned int head;
		long long t;

		if (i == n - 1)
			mark("kaio-profile: begin polled read");
		t = now_ns();
		if (ioctl(dev, KAIO_IOC_SUBMIT, &submit) != 1)
			die("submit");
		s[i] = now_ns() - t;
		w[i] = timed_write(p[1], msg, sizeof(msg));
		t = now_ns();
		head = ring->head;
		if (head != __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE)) {
			ev = ((struct io_event *)(ring + 1))[head];
			__atomic_store_n(&ring->head, (head + 1) % ring->nr, __ATOMIC_RELEASE);
		} else {
			getevents++;
			if (ioctl(dev, KAIO_IOC_GETEVENTS, &get) != 1)
				die("getevents");
		}
		g[i] = now_ns() - t;
		if (i == n - 1)
			mark("kaio-profile: end");
		if (ev.data != (unsigned long long)i || ev.res != sizeof(msg))
			die("the read's event");
	}
	for (int i = 0; i < n; i++) {
		long long t;

		if (i == n - 1)
			mark("kaio-profile: begin write + read(2)");
		sw[i] = timed_write(p[1], msg, sizeof(msg));
		t = now_ns();
		if (read(p[0], buf, sizeof(buf)) != sizeof(msg))
			die("read");
		sr[i] = now_ns() - t;
		if (i == n - 1)
			mark("kaio-profile: end");
	}
	printf("polled_read_path: medians of %d: kaio submit %lld ns, write %lld ns + reaping %lld ns (%d "
	       "events not in the ring when write returned); without AIO write %lld ns + read(2) %lld ns\n",
	       n, median(s, n), median(w, n), median(g, n), getevents, median(sw, n), median(sr, n));
	return 0;
}
