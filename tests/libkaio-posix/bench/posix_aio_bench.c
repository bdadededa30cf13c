/* POSIX AIO round-trip benchmark, <aio.h> only: built against glibc's librt and against
 * libkaio-posix (same source), run in the same guest.
 *
 *   posix-aio-bench-{glibc,kaio} LABEL [DIR] [SECONDS_PER_CASE]
 *
 * Cases, each at 1, 8 and 64 requests in flight, 64-byte reads:
 *   tmpfs   aio_read of a file in DIR (tmpfs in the guest): ready when submitted
 *   socket  one AF_UNIX stream socket pair per request in flight; the read is submitted on an
 *           empty socket, then the peer writes 64 bytes (right after the aio_read, same
 *           thread): the read becomes ready after submit
 * Loop: aio_suspend on every request in flight; each completed one is aio_error'd,
 * aio_return'ed and submitted again (plus, for sockets, the peer's write). Reported: requests
 * completed per second and the mean time per request (at depth 1, the round trip:
 * aio_read + [write] + aio_suspend + aio_return).
 * One line per case: "bench LABEL CASE depth=D ops=N us_per_op=X ops_per_s=Y". */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXD 64
#define LEN 64

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static struct aiocb cbs[MAXD];
static const struct aiocb *list[MAXD];
static char bufs[MAXD][LEN];
static int rfd[MAXD], wfd[MAXD];

static void submit(int i, int sock)
{
	if (aio_read(&cbs[i]) != 0)
		die("aio_read");
	if (sock && write(wfd[i], "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", LEN) != LEN)
		die("write");
}

static void run(const char *label, const char *name, int sock, int depth, const char *dir, double secs)
{
	char path[4096];
	if (sock) {
		for (int i = 0; i < depth; i++) {
			int sv[2];
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
				die("socketpair");
			rfd[i] = sv[0];
			wfd[i] = sv[1];
		}
	} else {
		snprintf(path, sizeof(path), "%s/posix-aio-bench.%d", dir, (int)getpid());
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			die("open");
		char block[LEN * MAXD];
		memset(block, 'x', sizeof(block));
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			die("write file");
		unlink(path);
		for (int i = 0; i < depth; i++)
			rfd[i] = fd;
	}
	memset(cbs, 0, sizeof(cbs));
	for (int i = 0; i < depth; i++) {
		cbs[i].aio_fildes = rfd[i];
		cbs[i].aio_buf = bufs[i];
		cbs[i].aio_nbytes = LEN;
		cbs[i].aio_offset = sock ? 0 : (off_t)i * LEN;
		cbs[i].aio_sigevent.sigev_notify = SIGEV_NONE;
		list[i] = &cbs[i];
	}
	/* Warm-up (thread pools, context set-up), then the timed part. */
	long ops = 0, warm = 200;
	double t0 = 0, end = 0;
	for (int i = 0; i < depth; i++)
		submit(i, sock);
	for (;;) {
		if (aio_suspend(list, depth, NULL) != 0) {
			if (errno == EINTR)
				continue;
			die("aio_suspend");
		}
		for (int i = 0; i < depth; i++) {
			int e = aio_error(&cbs[i]);
			if (e == EINPROGRESS)
				continue;
			if (e != 0 || aio_return(&cbs[i]) != LEN) {
				fprintf(stderr, "%s: request %d: error %d\n", name, i, e);
				exit(1);
			}
			ops++;
			if (ops == warm) {
				t0 = now();
				end = t0 + secs;
			}
			submit(i, sock);
		}
		if (ops >= warm && now() >= end)
			break;
	}
	double t = now() - t0;
	long n = ops - warm;
	/* Let the last requests complete (they are not counted), then close. */
	for (int i = 0; i < depth; i++) {
		const struct aiocb *one[1] = { &cbs[i] };
		while (aio_error(&cbs[i]) == EINPROGRESS)
			aio_suspend(one, 1, NULL);
		aio_return(&cbs[i]);
	}
	if (sock) {
		for (int i = 0; i < depth; i++) {
			close(rfd[i]);
			close(wfd[i]);
		}
	} else {
		close(rfd[0]);
	}
	printf("bench %s %s depth=%d ops=%ld us_per_op=%.1f ops_per_s=%.0f\n", label, name, depth, n,
	       t * 1e6 / n, n / t);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *label = argc > 1 ? argv[1] : "?";
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	double secs = argc > 3 ? atof(argv[3]) : 1.0;
	static const int depths[] = { 1, 8, 64 };
	for (int s = 0; s < 2; s++)
		for (int d = 0; d < 3; d++)
			run(label, s ? "socket" : "tmpfs", s, depths[d], dir, secs);
	return 0;
}
