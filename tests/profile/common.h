/* SPDX-License-Identifier: GPL-2.0 */
/* make profile: shared bits of its programs (timing, the trace marker, dying on an error). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static inline long long median(long long *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_ll);
	return v[n / 2];
}

/* Writes a line to the trace buffer: the host keeps the function graph between two marks. */
static inline void mark(const char *what)
{
	int fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY);

	/* EBADF while tracing is off: then nobody reads the marks, so the result is not checked. */
	if (fd >= 0) {
		(void)!write(fd, what, strlen(what));
		close(fd);
	}
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}
