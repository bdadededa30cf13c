// SPDX-License-Identifier: GPL-2.0
/*
 * aio_copy: copies a file with POSIX AIO only (<aio.h>), four reads in flight, each written
 * out as it completes, then aio_fsync; and cancels a read waiting on an empty pipe. The same
 * source links against glibc (-lrt) or libkaio-posix (-lkaio-posix -lrt).
 *
 *   aio-copy SRC DST    copy SRC to DST
 *   aio-copy            (no arguments) copy a 1 MiB scratch file in $TMPDIR or /tmp, compare,
 *                       then the pipe cancel; exit 0 when all went as expected
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEPTH 4
#define CHUNK (64 * 1024)

static int wait_for(struct aiocb *cb)
{
	const struct aiocb *list[1] = { cb };
	while (aio_error(cb) == EINPROGRESS)
		if (aio_suspend(list, 1, NULL) && errno != EINTR)
			return -1;
	return aio_error(cb);
}

static int copy(int in, int out, off_t size)
{
	static char bufs[DEPTH][CHUNK];
	struct aiocb rd[DEPTH];
	off_t next = 0;
	int inflight = 0;
	/* Start DEPTH reads; as each completes, write its data synchronously through AIO and
	 * start the next read in its slot. */
	for (int i = 0; i < DEPTH && next < size; i++, next += CHUNK, inflight++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].aio_fildes = in, rd[i].aio_buf = bufs[i], rd[i].aio_nbytes = CHUNK;
		rd[i].aio_offset = next;
		if (aio_read(&rd[i]))
			return perror("aio_read"), -1;
	}
	while (inflight) {
		const struct aiocb *list[DEPTH];
		for (int i = 0; i < DEPTH; i++)
			list[i] = rd[i].aio_fildes >= 0 ? &rd[i] : NULL;
		if (aio_suspend(list, DEPTH, NULL) && errno != EINTR)
			return perror("aio_suspend"), -1;
		for (int i = 0; i < DEPTH; i++) {
			if (rd[i].aio_fildes < 0 || aio_error(&rd[i]) == EINPROGRESS)
				continue;
			ssize_t n = aio_return(&rd[i]);
			if (n < 0)
				return fprintf(stderr, "read: %s\n", strerror(aio_error(&rd[i]))), -1;
			struct aiocb wr;
			memset(&wr, 0, sizeof(wr));
			wr.aio_fildes = out, wr.aio_buf = bufs[i], wr.aio_nbytes = n;
			wr.aio_offset = rd[i].aio_offset;
			if (aio_write(&wr) || wait_for(&wr) || aio_return(&wr) != n)
				return fprintf(stderr, "write failed\n"), -1;
			inflight--;
			rd[i].aio_fildes = -1;
			if (next < size) {
				rd[i].aio_fildes = in, rd[i].aio_offset = next;
				next += CHUNK;
				if (aio_read(&rd[i]))
					return perror("aio_read"), -1;
				inflight++;
			}
		}
	}
	struct aiocb sync;
	memset(&sync, 0, sizeof(sync));
	sync.aio_fildes = out;
	if (aio_fsync(O_SYNC, &sync) || wait_for(&sync))
		return fprintf(stderr, "aio_fsync failed\n"), -1;
	return 0;
}

static int cancel_pipe_read(void)
{
	int p[2];
	char buf[16];
	if (pipe(p))
		return -1;
	struct aiocb cb;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = p[0], cb.aio_buf = buf, cb.aio_nbytes = sizeof(buf);
	if (aio_read(&cb))
		return perror("aio_read(pipe)"), -1;
	usleep(100 * 1000);
	int rc = aio_cancel(p[0], &cb);
	printf("aio_cancel of a read waiting on an empty pipe: %s; aio_error %s\n",
	       rc == AIO_CANCELED ? "AIO_CANCELED" : rc == AIO_NOTCANCELED ? "AIO_NOTCANCELED" :
	       rc == AIO_ALLDONE ? "AIO_ALLDONE" : "error", strerror(aio_error(&cb)));
	if (rc == AIO_NOTCANCELED) {
		/* glibc: its helper thread is blocked in read(); give it something to read. */
		if (write(p[1], "x", 1) != 1 || wait_for(&cb))
			return -1;
	}
	close(p[0]), close(p[1]);
	return rc == AIO_CANCELED || rc == AIO_NOTCANCELED ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc == 3) {
		int in = open(argv[1], O_RDONLY), out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || out < 0)
			return perror("open"), 1;
		return copy(in, out, lseek(in, 0, SEEK_END)) ? 1 : 0;
	}
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char src[256], dst[256];
	snprintf(src, sizeof(src), "%s/aio-copy-src.%d", dir, getpid());
	snprintf(dst, sizeof(dst), "%s/aio-copy-dst.%d", dir, getpid());
	int in = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600), out = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0)
		return perror("open"), 1;
	unlink(src), unlink(dst);
	static char data[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 31 + 7);
	if (write(in, data, sizeof(data)) != sizeof(data))
		return perror("write"), 1;
	if (copy(in, out, sizeof(data)))
		return 1;
	if (pread(out, back, sizeof(back), 0) != sizeof(back) || memcmp(data, back, sizeof(data)))
		return fprintf(stderr, "copy differs\n"), 1;
	printf("copied 1 MiB with %d reads in flight: identical\n", DEPTH);
	return cancel_pipe_read() ? 1 : 0;
}
