// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A threaded libaio program: 8 threads start at once, each with its own context (the
 * library's first use happens in all of them together), submitting and reaping delays. Then
 * fork(): the child cannot use its parent's context (-EINVAL, as in Linux) but can make its
 * own. Checks that the process has one /dev/kaio descriptor whatever the number of threads.
 * Prints what it does; exits 0 on success.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libaio.h>
#include "kaio.h"

/* A delay request needs an open descriptor, any one. */
static int null_fd;

#define THREADS 8
#define PER_THREAD 16

static pthread_barrier_t start;

static int kaio_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char target[256];
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t len = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);

		if (len > 0) {
			target[len] = 0;
			n += strcmp(target, KAIO_DEVICE) == 0;
		}
	}
	closedir(d);
	return n;
}

static void prep_delay(struct iocb *iocb, long long ns)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_fildes = null_fd;
	iocb->aio_lio_opcode = KAIO_CMD_DELAY;
	iocb->u.c.offset = ns;
}

static int one_context(void)
{
	io_context_t ctx = 0;
	struct iocb iocbs[PER_THREAD], *list[PER_THREAD];
	struct io_event ev[PER_THREAD];
	struct timespec timeout = { 10, 0 };
	int r, got = 0;

	if ((r = io_setup(PER_THREAD, &ctx)))
		return r;
	for (int i = 0; i < PER_THREAD; i++) {
		prep_delay(&iocbs[i], 100000LL * (i % 4));
		list[i] = &iocbs[i];
	}
	if ((r = io_submit(ctx, PER_THREAD, list)) != PER_THREAD)
		return r < 0 ? r : -EAGAIN;
	while (got < PER_THREAD) {
		r = io_getevents(ctx, 1, PER_THREAD, ev, &timeout);
		if (r <= 0)
			return r ? r : -ETIMEDOUT;
		for (int i = 0; i < r; i++)
			if (ev[i].res != 0)
				return -EIO;
		got += r;
	}
	return io_destroy(ctx);
}

static void *thread(void *arg)
{
	long r;

	pthread_barrier_wait(&start);
	r = one_context();
	*(int *)arg = (int)r;
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	int res[THREADS], bad = 0, status, r;
	io_context_t ctx = 0;
	pid_t pid;

	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0) {
		perror("/dev/null");
		return 1;
	}

	printf("/dev/kaio descriptors before first use: %d\n", kaio_fds());
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, thread, &res[i]);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		printf("thread %d: %d requests, result %d\n", i, PER_THREAD, res[i]);
		bad += res[i] != 0;
	}
	r = kaio_fds();
	printf("/dev/kaio descriptors after %d threads: %d (want 1)\n", THREADS, r);
	bad += r != 1;

	r = io_setup(1, &ctx);
	printf("parent io_setup = %d\n", r);
	if (r)
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		io_context_t mine = 0;
		int e = 0;

		r = io_destroy(ctx);
		printf("child: io_destroy(parent's context) = %d (want %d)\n", r, -EINVAL);
		e += r != -EINVAL;
		r = one_context();
		printf("child: a context of its own, %d delays = %d\n", PER_THREAD, r);
		e += r != 0;
		r = io_setup(1, &mine);
		e += r != 0;
		r = kaio_fds();
		printf("child: /dev/kaio descriptors = %d (want 1)\n", r);
		e += r != 1;
		fflush(stdout);
		_exit(e);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		printf("child failed (status %#x)\n", status);
		bad++;
	}
	r = io_destroy(ctx);
	printf("parent io_destroy = %d\n", r);
	bad += r != 0;
	printf("%s\n", bad ? "FAILED" : "all as expected");
	return bad != 0;
}
