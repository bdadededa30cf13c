// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A plain libaio program (no kaio-specific code): writes a file with io_prep_pwrite and
 * io_prep_pwritev, syncs it with io_prep_fsync and io_prep_fdsync, reads it back with
 * io_prep_pread and io_prep_preadv, and has one completion signal an eventfd
 * (io_set_eventfd). The file is created in the directory given as argument (default: $TMPDIR,
 * else /tmp) and removed. Prints what it does; exits 0 on success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <libaio.h>

#define BLK 4096
#define NBLK 4

static io_context_t ctx;

/* Submits n iocbs and waits for their n events; checks each event's res against want[i]. */
static int run(const char *what, struct iocb **list, int n, const long *want)
{
	struct io_event ev[8];
	struct timespec timeout = { 10, 0 };
	int r = io_submit(ctx, n, list), got = 0;

	if (r != n) {
		printf("%s: io_submit = %d (%s)\n", what, r, r < 0 ? strerror(-r) : "partial");
		return 1;
	}
	while (got < n) {
		r = io_getevents(ctx, 1, n - got, ev, &timeout);
		if (r <= 0) {
			printf("%s: io_getevents = %d\n", what, r);
			return 1;
		}
		for (int i = 0; i < r; i++) {
			int k = -1;

			for (int j = 0; j < n; j++)
				if (ev[i].obj == list[j])
					k = j;
			if (k < 0 || (long)ev[i].res != want[k] || ev[i].res2 != 0) {
				printf("%s: event for iocb %d: res %ld, want %ld\n", what, k,
				       (long)ev[i].res, k < 0 ? 0 : want[k]);
				return 1;
			}
		}
		got += r;
	}
	printf("%s: %d requests done\n", what, n);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static char out[NBLK][BLK], in[NBLK][BLK], vin[2][BLK];
	struct iocb io[NBLK], *list[NBLK];
	struct iovec iov[2];
	long want[NBLK];
	char path[4096];
	uint64_t count = 0;
	int fd, efd, r;

	snprintf(path, sizeof(path), "%s/libaio-compat-rw.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	unlink(path);
	printf("file %s (unlinked), fd %d\n", path, fd);
	r = io_setup(NBLK, &ctx);
	printf("io_setup = %d\n", r);
	if (r)
		return 1;

	for (int i = 0; i < NBLK; i++) {
		memset(out[i], 'a' + i, BLK);
		io_prep_pwrite(&io[i], fd, out[i], BLK, (long long)i * BLK);
		list[i] = &io[i];
		want[i] = BLK;
	}
	if (run("pwrite x4", list, NBLK, want))
		return 1;

	io_prep_fsync(&io[0], fd);
	io_prep_fdsync(&io[1], fd);
	want[0] = want[1] = 0;
	if (run("fsync+fdsync", list, 2, want))
		return 1;

	for (int i = 0; i < NBLK; i++) {
		io_prep_pread(&io[i], fd, in[i], BLK, (long long)(NBLK - 1 - i) * BLK);
		want[i] = BLK;
	}
	if (run("pread x4", list, NBLK, want))
		return 1;
	for (int i = 0; i < NBLK; i++) {
		if (memcmp(in[i], out[NBLK - 1 - i], BLK)) {
			printf("pread: block %d differs from what was written\n", NBLK - 1 - i);
			return 1;
		}
	}

	/* Vectored: write blocks 1 and 2 swapped at the end, read them back. */
	iov[0] = (struct iovec){ out[2], BLK };
	iov[1] = (struct iovec){ out[1], BLK };
	io_prep_pwritev(&io[0], fd, iov, 2, NBLK * BLK);
	want[0] = 2 * BLK;
	if (run("pwritev", list, 1, want))
		return 1;
	iov[0] = (struct iovec){ vin[0], BLK };
	iov[1] = (struct iovec){ vin[1], BLK };
	io_prep_preadv(&io[0], fd, iov, 2, NBLK * BLK);
	/* The eventfd is signalled once per completion of a request that asks for it. */
	efd = eventfd(0, EFD_NONBLOCK);
	if (efd < 0) {
		perror("eventfd");
		return 1;
	}
	io_set_eventfd(&io[0], efd);
	if (run("preadv with eventfd", list, 1, want))
		return 1;
	if (memcmp(vin[0], out[2], BLK) || memcmp(vin[1], out[1], BLK)) {
		printf("preadv: data differs\n");
		return 1;
	}
	if (read(efd, &count, sizeof(count)) != sizeof(count) || count != 1) {
		printf("eventfd: count %llu, want 1\n", (unsigned long long)count);
		return 1;
	}
	printf("eventfd: signalled once\n");

	/* Reading past the end: a short read of 0 bytes. */
	io_prep_pread(&io[0], fd, in[0], BLK, 100 * BLK);
	want[0] = 0;
	if (run("pread past EOF", list, 1, want))
		return 1;

	r = io_destroy(ctx);
	printf("io_destroy = %d\n", r);
	close(efd);
	close(fd);
	if (r)
		return 1;
	printf("all as expected\n");
	return 0;
}
