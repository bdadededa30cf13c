/* posix_bench: the POSIX AIO side of kaio-bench's benchmark 7 (polled_read), a read on an
 * AF_UNIX stream socket pair or a pipe that becomes ready after it was submitted.
 *
 * Written against <aio.h> only, and built twice, statically: against glibc's POSIX AIO
 * (cc ... -lrt: helper threads that block in read(2)) and against libkaio-posix (the library
 * first: one KAIO_SETUP_POLLED_RW context, the read waits in the kernel). kaio-bench runs both
 * as child processes and drives them over a pipe, one command a line on stdin, one reply a
 * line on stdout, so that their samples are taken round-robin with its own variants:
 *
 *   lat KIND N COUNT   KIND sock|pipe. N reads (one per pair, 4096 bytes each) kept in
 *                      flight (submitted when the state is not that already); COUNT samples,
 *                      each: write one 64-byte message to the peer of the oldest read, time
 *                      from before that write(2) until aio_suspend has returned and
 *                      aio_error says the read is done; check it (aio_return 64, the
 *                      message's bytes); resubmit it (untimed).
 *                      Reply: "ok T1 ... TCOUNT" (TSC ticks).
 *   tput KIND N UNITS  nothing in flight (the reads of lat are drained first); UNITS times:
 *                      aio_read on each of N pairs, write one message to each peer, then
 *                      aio_suspend/aio_error/aio_return each read in turn and check it.
 *                      Reply: "ok TICKS OPS" (OPS = UNITS * N).
 *   quit
 *
 * An error is "err MESSAGE" and exit 1. The clock is the TSC (lfence; rdtsc), as kaio-bench's:
 * the guest's CLOCK_MONOTONIC lags under QEMU TCG; kaio-bench converts ticks to ns.
 *
 * glibc starts at most 20 helper threads (aio_init's default aio_threads) and queues further
 * requests until one of them finishes: at N = 64, 20 reads wait in read(2) and 44 in glibc's
 * queue. "lat" writes to the oldest read's peer, which is always one of those running, so it
 * makes progress (a write to a queued read's peer would wait until 20 reads before it finish).
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <x86intrin.h>

#define MAX 64
#define BUF 4096
#define MSG 64

#ifdef KAIO_POSIX
static const char *impl = "libkaio-posix";
#else
static const char *impl = "glibc";
#endif

static inline uint64_t ticks(void)
{
	_mm_lfence();
	return __rdtsc();
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	printf("err %s: ", impl);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

struct side {
	const char *kind;
	int rd[MAX], wr[MAX];
	uint32_t seq[MAX];
	struct aiocb cb[MAX];
	unsigned char *buf[MAX];
	/* lat state: reads in flight, oldest first (a ring of indices) */
	int order[MAX];
	int head, count, depth;
};

static struct side sides[2];

static void open_side(struct side *s, const char *kind)
{
	s->kind = kind;
	for (int i = 0; i < MAX; i++) {
		int fds[2];
		if (!strcmp(kind, "sock")) {
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
				die("socketpair: %s", strerror(errno));
		} else if (pipe2(fds, O_CLOEXEC)) {
			die("pipe2: %s", strerror(errno));
		}
		s->rd[i] = fds[0];
		s->wr[i] = fds[1];
		if (posix_memalign((void **)&s->buf[i], 4096, BUF))
			die("posix_memalign");
		memset(s->buf[i], 0, BUF);
	}
}

static struct side *side_of(const char *kind)
{
	if (!strcmp(kind, "sock"))
		return &sides[0];
	if (!strcmp(kind, "pipe"))
		return &sides[1];
	die("unknown kind %s", kind);
}

/* Message `seq` of pair `i`: every byte a function of both. */
static void fill(unsigned char *m, int i, uint32_t seq)
{
	for (int k = 0; k < MSG; k++)
		m[k] = (unsigned char)(i * 131 + seq * 7 + k);
}

static void submit(struct side *s, int i)
{
	struct aiocb *cb = &s->cb[i];
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = s->rd[i];
	cb->aio_buf = s->buf[i];
	cb->aio_nbytes = BUF;
	cb->aio_offset = 0;
	cb->aio_sigevent.sigev_notify = SIGEV_NONE;
	s->buf[i][0] = ~s->buf[i][0];
	if (aio_read(cb))
		die("%s aio_read pair %d: %s", s->kind, i, strerror(errno));
}

static void poke(struct side *s, int i)
{
	unsigned char m[MSG];
	fill(m, i, s->seq[i]);
	if (write(s->wr[i], m, MSG) != MSG)
		die("%s write pair %d: %s", s->kind, i, strerror(errno));
}

/* Waits for read i, then checks it: aio_return 64 and message seq[i] of pair i. */
static void wait_one(struct side *s, int i)
{
	const struct aiocb *list[1] = { &s->cb[i] };
	int e;
	while ((e = aio_error(&s->cb[i])) == EINPROGRESS) {
		if (aio_suspend(list, 1, NULL) && errno != EINTR && errno != EAGAIN)
			die("%s aio_suspend pair %d: %s", s->kind, i, strerror(errno));
	}
	if (e != 0)
		die("%s pair %d: aio_error %d (%s)", s->kind, i, e, strerror(e));
	ssize_t r = aio_return(&s->cb[i]);
	if (r != MSG)
		die("%s pair %d: aio_return %zd, expected %d", s->kind, i, r, MSG);
	unsigned char m[MSG];
	fill(m, i, s->seq[i]);
	if (memcmp(m, s->buf[i], MSG))
		die("%s pair %d: wrong data for message %u", s->kind, i, s->seq[i]);
	s->seq[i]++;
}

static void drain(struct side *s)
{
	for (int k = 0; k < s->count; k++)
		poke(s, s->order[(s->head + k) % MAX]);
	for (int k = 0; k < s->count; k++)
		wait_one(s, s->order[(s->head + k) % MAX]);
	s->head = s->count = s->depth = 0;
}

static void lat(struct side *s, int n, int count)
{
	if (s->depth != n) {
		drain(&sides[0]);
		drain(&sides[1]);
		for (int i = 0; i < n; i++) {
			submit(s, i);
			s->order[i] = i;
		}
		s->head = 0;
		s->count = s->depth = n;
	}
	static uint64_t out[4096];
	if (count > 4096)
		die("lat: count %d", count);
	for (int k = 0; k < count; k++) {
		int i = s->order[s->head];
		uint64_t t0 = ticks();
		poke(s, i);
		wait_one(s, i);
		uint64_t t1 = ticks();
		out[k] = t1 - t0;
		submit(s, i);
		s->order[(s->head + s->count) % MAX] = i;
		s->head = (s->head + 1) % MAX;
	}
	printf("ok");
	for (int k = 0; k < count; k++)
		printf(" %llu", (unsigned long long)out[k]);
	printf("\n");
	fflush(stdout);
}

static void tput(struct side *s, int n, long units)
{
	drain(&sides[0]);
	drain(&sides[1]);
	uint64_t t0 = ticks();
	for (long u = 0; u < units; u++) {
		for (int i = 0; i < n; i++)
			submit(s, i);
		for (int i = 0; i < n; i++)
			poke(s, i);
		for (int i = 0; i < n; i++)
			wait_one(s, i);
	}
	uint64_t t1 = ticks();
	printf("ok %llu %llu\n", (unsigned long long)(t1 - t0), (unsigned long long)(units * n));
	fflush(stdout);
}

int main(void)
{
	char line[256], kind[16];
	int n;
	long k;
	signal(SIGPIPE, SIG_IGN);
	open_side(&sides[0], "sock");
	open_side(&sides[1], "pipe");
	printf("ready %s\n", impl);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "lat %15s %d %ld", kind, &n, &k) == 3 && n >= 1 && n <= MAX && k >= 1)
			lat(side_of(kind), n, (int)k);
		else if (sscanf(line, "tput %15s %d %ld", kind, &n, &k) == 3 && n >= 1 && n <= MAX && k >= 1)
			tput(side_of(kind), n, k);
		else if (!strncmp(line, "quit", 4))
			break;
		else
			die("bad command: %s", line);
	}
	drain(&sides[0]);
	drain(&sides[1]);
	return 0;
}
