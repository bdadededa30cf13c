// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host tests of the libaio-compatible library against the fake /dev/kaio (fake_kaio.h): the
 * library's own logic (errno convention, lazy and per-process device, the zero-timeout fast
 * path, io_queue_*, symbol versions, how io_pgetevents and kaio_cancel_match fill in version
 * 2's argument blocks), not the module's. Prints KTAP; exits 1 on any failure.
 *
 *   host_test [--lib SUBSTRING]
 *
 * --lib: the library is a shared one whose path contains SUBSTRING (checked with dladdr), and
 * the LIBAIO_0.1 compatibility symbols are tested with dlvsym. Without it the library is
 * linked in statically and those tests are skipped.
 *
 * Built with -DHOST_TEST_SYSTEM_LIBAIO (the system's <libaio.h> and libaio.so.1, which lack
 * kaio_cancel_match), the program finds kaio_cancel_match at run time with dlvsym; otherwise
 * it calls it directly, or through dlvsym as well when testing the shared library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libaio.h>
#include "kaio.h"
#include "fake_kaio.h"

static int ntest, nfail;
static const char *lib;
/* kaio's own call (kaio.h), directly or as the shared library exports it. */
static int (*cancel_match)(io_context_t ctx, struct kaio_cancel_match_args *args);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			printf("# %s:%d: %s\n", __func__, __LINE__, #cond);                  \
			return 1;                                                            \
		}                                                                            \
	} while (0)

static void result(int failed, const char *name, const char *skip)
{
	ntest++;
	if (skip) {
		printf("ok %d %s # SKIP %s\n", ntest, name, skip);
	} else if (failed) {
		nfail++;
		printf("not ok %d %s\n", ntest, name);
	} else {
		printf("ok %d %s\n", ntest, name);
	}
	fflush(stdout);
}

#define RUN(fn) result(fn(), #fn, NULL)

static struct timespec zero;

static void prep_delay(struct iocb *io, long long ns, void *data)
{
	memset(io, 0, sizeof(*io));
	io->aio_lio_opcode = KAIO_CMD_DELAY;
	io->aio_fildes = 0;
	io->u.c.offset = ns;
	io->data = data;
}

static struct kaio_ring *ring_of(io_context_t ctx)
{
	return (struct kaio_ring *)ctx;
}

/* ---- before the device is first opened ---- */

static int queue_init_rejects_nonpositive_counts_without_the_device(void)
{
	io_context_t ctx = (io_context_t)1;

	CHECK(io_queue_init(0, &ctx) == -EINVAL);
	CHECK(io_queue_init(-5, &ctx) == -EINVAL);
	CHECK(ctx == (io_context_t)1);
	CHECK(fake_opens == 0);
	return 0;
}

static int absent_device_is_enosys(void)
{
	io_context_t ctx = 0;

	struct kaio_cancel_match_args a = { .flags = KAIO_CANCEL_ANY };
	struct io_event ev;
	sigset_t set;

	sigemptyset(&set);
	fake_absent = 1;
	CHECK(io_setup(1, &ctx) == -ENOSYS);
	CHECK(io_destroy((io_context_t)8) == -ENOSYS);
	CHECK(io_pgetevents((io_context_t)8, 0, 1, &ev, NULL, &set) == -ENOSYS);
	CHECK(cancel_match && cancel_match((io_context_t)8, &a) == -ENOSYS);
	fake_absent = 0;
	CHECK(fake_opens == 0);
	return 0;
}

static pthread_barrier_t barrier;

static void *setup_thread(void *arg)
{
	io_context_t ctx = 0;

	(void)arg;
	pthread_barrier_wait(&barrier);
	if (io_setup(2, &ctx) != 0 || io_destroy(ctx) != 0)
		return (void *)1;
	return NULL;
}

static int first_use_from_many_threads_opens_once(void)
{
	pthread_t t[8];
	int bad = 0;

	pthread_barrier_init(&barrier, NULL, 8);
	for (int i = 0; i < 8; i++)
		CHECK(pthread_create(&t[i], NULL, setup_thread, NULL) == 0);
	for (int i = 0; i < 8; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	CHECK(bad == 0);
	CHECK(fake_opens == 1 && fake_open_fds() == 1);
	CHECK(fake_lib_fd() >= 0);
	CHECK(fcntl(fake_lib_fd(), F_GETFD) & FD_CLOEXEC);
	return 0;
}

/* ---- the calls ---- */

static int errors_are_negative_errnos(void)
{
	io_context_t ctx = (io_context_t)1;
	struct iocb io, *iop = &io;
	struct io_event ev;

	CHECK(io_setup(4, &ctx) == -EINVAL);           /* *ctxp must be 0 */
	ctx = 0;
	CHECK(io_setup(0, &ctx) == -EINVAL);
	CHECK(io_setup(-1, &ctx) == -EINVAL);          /* unsigned in the kernel: huge */
	CHECK(io_destroy((io_context_t)16) == -EINVAL);
	prep_delay(&io, 0, NULL);
	CHECK(io_submit((io_context_t)16, 1, &iop) == -EINVAL);
	CHECK(io_getevents((io_context_t)16, 0, 1, &ev, NULL) == -EINVAL);
	CHECK(io_cancel((io_context_t)16, &io, &ev) == -EINVAL);
	return 0;
}

static int setup_submit_cancel_getevents_destroy(void)
{
	io_context_t ctx = 0;
	struct iocb io[3], *iop[3] = { &io[0], &io[1], &io[2] };
	struct io_event ev[4];
	int n, cancelled = 0;

	CHECK(io_setup(8, &ctx) == 0);
	CHECK(ctx != 0);
	CHECK(ring_of(ctx)->magic == KAIO_RING_MAGIC);
	for (int i = 0; i < 3; i++)
		prep_delay(&io[i], (i + 1) * 1000000LL, (void *)(long)(i + 10));
	io[0].key = 77;
	CHECK(io_submit(ctx, 3, iop) == 3);
	CHECK(io[0].key == 0);
	CHECK(fake_in_flight((unsigned long)ctx) == 3);
	CHECK(io_cancel(ctx, &io[2], &ev[0]) == -EINPROGRESS);
	CHECK(io_cancel(ctx, &io[2], &ev[0]) == -EINVAL);
	n = io_getevents(ctx, 3, 4, ev, NULL);
	CHECK(n == 3);
	for (int i = 0; i < n; i++) {
		if (ev[i].obj == &io[2]) {
			CHECK((long)ev[i].res == -ECANCELED);
			CHECK(ev[i].data == (void *)12L);
			cancelled++;
		} else {
			CHECK((long)ev[i].res == 0);
		}
	}
	CHECK(cancelled == 1);
	CHECK(io_submit(ctx, 0, iop) == 0);
	CHECK(io_submit(ctx, -1, iop) == -EINVAL);
	CHECK(io_destroy(ctx) == 0);
	CHECK(io_destroy(ctx) == -EINVAL);
	return 0;
}

static int zero_timeout_on_an_empty_ring_makes_no_call(void)
{
	io_context_t ctx = 0;
	struct iocb io, *iop = &io;
	struct io_event ev;
	struct timespec ms = { 0, 1000000 };
	int calls;

	CHECK(io_setup(4, &ctx) == 0);
	calls = fake_calls[4];
	CHECK(io_getevents(ctx, 0, 1, &ev, &zero) == 0);
	/* As in libaio, even arguments the kernel would reject: no call is made. */
	CHECK(io_getevents(ctx, 5, 1, &ev, &zero) == 0);
	CHECK(fake_calls[4] == calls);
	/* Anything else reaches the device. */
	CHECK(io_getevents(ctx, 0, 1, &ev, &ms) == 0);
	CHECK(io_getevents(ctx, 0, 1, &ev, NULL) == 0);
	CHECK(fake_calls[4] == calls + 2);
	ring_of(ctx)->magic = 0;
	CHECK(io_getevents(ctx, 0, 1, &ev, &zero) == 0);
	CHECK(fake_calls[4] == calls + 3);
	ring_of(ctx)->magic = KAIO_RING_MAGIC;
	ring_of(ctx)->incompat_features = 1;
	CHECK(io_getevents(ctx, 0, 1, &ev, &zero) == 0);
	CHECK(fake_calls[4] == calls + 4);
	ring_of(ctx)->incompat_features = 0;
	CHECK(io_getevents(NULL, 0, 1, &ev, &zero) == -EINVAL);
	CHECK(fake_calls[4] == calls + 5);
	/* A non-empty ring: the call is made and reaps. */
	prep_delay(&io, 0, (void *)5L);
	CHECK(io_submit(ctx, 1, &iop) == 1);
	CHECK(io_getevents(ctx, 0, 1, &ev, &zero) == 1);
	CHECK(fake_calls[4] == calls + 6 && ev.data == (void *)5L && ev.obj == &io);
	CHECK(io_destroy(ctx) == 0);
	return 0;
}

static io_context_t cb_ctx;
static int cb_calls;
static struct iocb *cb_seen[8];

static void callback(io_context_t ctx, struct iocb *iocb, long res, long res2)
{
	if (ctx == cb_ctx && res == 0 && res2 == 0 && cb_calls < 8)
		cb_seen[cb_calls] = iocb;
	cb_calls++;
}

static int queue_run_calls_each_callback_then_returns_0(void)
{
	struct iocb io[3], *iop[3] = { &io[0], &io[1], &io[2] };

	CHECK(io_queue_init(8, &cb_ctx) == 0);
	for (int i = 0; i < 3; i++) {
		prep_delay(&io[i], 0, NULL);
		io_set_callback(&io[i], callback);
	}
	CHECK(io_queue_run(cb_ctx) == 0);
	CHECK(cb_calls == 0);
	CHECK(io_submit(cb_ctx, 3, iop) == 3);
	CHECK(io_queue_run(cb_ctx) == 0);
	CHECK(cb_calls == 3);
	for (int i = 0; i < 3; i++)
		CHECK(cb_seen[i] == &io[i]);
	/* Requests still in flight are not waited for. */
	prep_delay(&io[0], 1000000, NULL);
	io_set_callback(&io[0], callback);
	CHECK(io_submit(cb_ctx, 1, iop) == 1);
	CHECK(io_queue_run(cb_ctx) == 0);
	CHECK(cb_calls == 3);
	CHECK(io_queue_release(cb_ctx) == 0);
	CHECK(io_queue_release(cb_ctx) == -EINVAL);
	return 0;
}

/* io_pgetevents is one KAIO_IOC_PGETEVENTS: libaio's { sigmask, _NSIG / 8 }, or 0/0. */
static int pgetevents_is_one_ioctl_with_the_mask(void)
{
	const struct kaio_pgetevents_args *a = &fake_last_pgetevents;
	io_context_t ctx = 0;
	struct iocb io[2], *iop[2] = { &io[0], &io[1] };
	struct io_event ev[2];
	struct timespec ts = { 5, 0 };
	int get = fake_calls[4], pget = fake_calls[7];
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK(io_setup(4, &ctx) == 0);
	prep_delay(&io[0], 1000, (void *)3L);
	prep_delay(&io[1], 2000, (void *)4L);
	CHECK(io_submit(ctx, 2, iop) == 2);
	memset(&fake_last_pgetevents, 0xa5, sizeof(fake_last_pgetevents));
	CHECK(io_pgetevents(ctx, 1, 1, ev, &ts, &set) == 1);
	CHECK(ev[0].obj == &io[0] && ev[0].data == (void *)3L && ev[0].res == 0);
	CHECK(a->ctx_id == (unsigned long)ctx && a->min_nr == 1 && a->nr == 1);
	CHECK(a->events == (unsigned long)ev && a->timeout == (unsigned long)&ts);
	CHECK(a->sigmask == (unsigned long)&set && a->sigsetsize == 8);
	/* Without a mask: sigmask 0, sigsetsize 0, and still the one ioctl. */
	CHECK(io_pgetevents(ctx, 1, 2, ev, NULL, NULL) == 1);
	CHECK(ev[0].obj == &io[1] && ev[0].data == (void *)4L);
	CHECK(a->sigmask == 0 && a->sigsetsize == 0 && a->timeout == 0 && a->nr == 2);
	CHECK(fake_calls[7] == pget + 2 && fake_calls[4] == get);
	/* libaio's fast path: a zero timeout on an empty ring makes no call, mask or not. */
	CHECK(io_pgetevents(ctx, 0, 1, ev, &zero, &set) == 0);
	CHECK(io_pgetevents(ctx, 0, 1, ev, &zero, NULL) == 0);
	CHECK(fake_calls[7] == pget + 2);
	/* Errors are negative errnos. */
	CHECK(io_pgetevents((io_context_t)16, 0, 1, ev, NULL, &set) == -EINVAL);
	CHECK(io_pgetevents(ctx, 2, 1, ev, NULL, &set) == -EINVAL);
	CHECK(fake_calls[7] == pget + 4 && fake_calls[4] == get);
	CHECK(io_destroy(ctx) == 0);
	return 0;
}

/* A version 1 module has no KAIO_IOC_PGETEVENTS: without a mask, io_getevents; with, -ENOSYS. */
static int pgetevents_on_a_version_1_module(void)
{
	io_context_t ctx = 0;
	struct iocb io, *iop = &io;
	struct io_event ev;
	struct kaio_cancel_match_args a = { .flags = KAIO_CANCEL_ANY };
	int get, opens = fake_opens;
	sigset_t set;

	sigemptyset(&set);
	CHECK(io_setup(4, &ctx) == 0);
	prep_delay(&io, 1000, (void *)3L);
	CHECK(io_submit(ctx, 1, &iop) == 1);
	fake_v1 = 1;
	get = fake_calls[4];
	CHECK(io_pgetevents(ctx, 1, 1, &ev, NULL, &set) == -ENOSYS);
	CHECK(io_pgetevents(ctx, 1, 1, &ev, NULL, NULL) == 1);
	CHECK(ev.obj == &io && fake_calls[4] == get + 1);
	CHECK(cancel_match && cancel_match(ctx, &a) == -ENOTTY);
	fake_v1 = 0;
	CHECK(fake_opens == opens);                    /* ENOTTY from our own file: no reopen */
	CHECK(io_destroy(ctx) == 0);
	return 0;
}

/* kaio_cancel_match: ctx_id filled in, the caller's block passed (nr_running comes back in
 * it), the count or a negative errno returned. */
static int cancel_match_fills_ctx_id_and_returns_counts(void)
{
	const struct kaio_cancel_match_args *last = &fake_last_cancel_match;
	io_context_t ctx = 0;
	struct iocb io[4], *iop[4];
	struct io_event ev[4], res;
	struct kaio_cancel_match_args a;
	int calls = fake_calls[6];

	CHECK(cancel_match != NULL);
	CHECK(io_setup(8, &ctx) == 0);
	for (int i = 0; i < 4; i++) {
		prep_delay(&io[i], (i + 1) * 1000000LL, (void *)(long)(i % 2 ? 7 : 8));
		iop[i] = &io[i];
	}
	CHECK(io_submit(ctx, 4, iop) == 4);
	/* By data, the oldest match only. */
	a = (struct kaio_cancel_match_args){
		.ctx_id = 12345, .flags = KAIO_CANCEL_DATA, .key = 7, .nr_running = 99,
	};
	CHECK(cancel_match(ctx, &a) == 1);
	CHECK(a.ctx_id == (unsigned long)ctx && a.nr_running == 0);
	CHECK(last->ctx_id == (unsigned long)ctx && last->flags == KAIO_CANCEL_DATA && last->key == 7);
	CHECK(fake_in_flight((unsigned long)ctx) == 3);
	CHECK(io_getevents(ctx, 1, 4, ev, &zero) == 1);
	CHECK(ev[0].obj == &io[1] && (long)ev[0].res == -ECANCELED);
	/* RESULT: the event comes back in result, not through the ring. */
	a = (struct kaio_cancel_match_args){
		.flags = KAIO_CANCEL_IOCB | KAIO_CANCEL_RESULT, .key = (unsigned long)&io[3],
		.result = (unsigned long)&res,
	};
	CHECK(cancel_match(ctx, &a) == 0);
	CHECK(res.obj == &io[3] && res.data == (void *)7L && (long)res.res == -ECANCELED);
	CHECK(fake_in_flight((unsigned long)ctx) == 2);
	CHECK(io_getevents(ctx, 0, 4, ev, &zero) == 0);
	/* Matches that run on: -EALREADY, and nr_running says how many. */
	fake_running = 1;
	a = (struct kaio_cancel_match_args){ .flags = KAIO_CANCEL_ANY };
	CHECK(cancel_match(ctx, &a) == -EALREADY && a.nr_running == 2);
	a = (struct kaio_cancel_match_args){
		.flags = KAIO_CANCEL_IOCB | KAIO_CANCEL_RESULT, .key = (unsigned long)&io[0],
		.result = (unsigned long)&res,
	};
	CHECK(cancel_match(ctx, &a) == -EAGAIN && a.nr_running == 1);
	fake_running = 0;
	/* ANY: every request. */
	a = (struct kaio_cancel_match_args){ .flags = KAIO_CANCEL_ANY, .nr_running = 5 };
	CHECK(cancel_match(ctx, &a) == 2 && a.nr_running == 0);
	CHECK(io_getevents(ctx, 2, 4, ev, NULL) == 2);
	CHECK((long)ev[0].res == -ECANCELED && (long)ev[1].res == -ECANCELED);
	CHECK(fake_in_flight((unsigned long)ctx) == 0);
	/* Nothing left, and the other errors: negative errnos. */
	a = (struct kaio_cancel_match_args){ .flags = KAIO_CANCEL_ANY, .nr_running = 5 };
	CHECK(cancel_match(ctx, &a) == -ENOENT && a.nr_running == 0);
	a = (struct kaio_cancel_match_args){ .flags = KAIO_CANCEL_ANY | KAIO_CANCEL_IOCB };
	CHECK(cancel_match(ctx, &a) == -EINVAL);
	a = (struct kaio_cancel_match_args){ .flags = KAIO_CANCEL_ANY, .reserved2 = { 0, 1 } };
	CHECK(cancel_match(ctx, &a) == -EINVAL);
	a = (struct kaio_cancel_match_args){ .flags = 1U << 8 };
	CHECK(cancel_match(ctx, &a) == -EINVAL);
	a = (struct kaio_cancel_match_args){ .flags = KAIO_CANCEL_FD, .fd = -1 };
	CHECK(cancel_match(ctx, &a) == -EBADF && last->fd == -1);
	a = (struct kaio_cancel_match_args){ .flags = KAIO_CANCEL_ANY, .nr_running = 5 };
	CHECK(cancel_match((io_context_t)16, &a) == -EINVAL && a.ctx_id == 16 && a.nr_running == 5);
	CHECK(fake_calls[6] == calls + 11);
	CHECK(cancel_match(ctx, NULL) == -EFAULT);     /* no call */
	CHECK(fake_calls[6] == calls + 11);
	CHECK(io_destroy(ctx) == 0);
	return 0;
}

static int forked_child_opens_its_own_device(void)
{
	io_context_t ctx = 0, child_ctx = 0;
	int parent_fd = fake_lib_fd(), opens = fake_opens, status;
	pid_t pid;

	CHECK(parent_fd >= 0);
	CHECK(io_setup(2, &ctx) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		/* The inherited descriptor was closed at fork; contexts are per process. */
		bad |= fake_lib_fd() != -1;
		bad |= (io_destroy(ctx) != -EINVAL) << 1;
		bad |= (fake_opens != opens + 1) << 2;
		bad |= (io_setup(2, &child_ctx) != 0) << 3;
		bad |= (io_destroy(child_ctx) != 0) << 4;
		_exit(bad);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		printf("# child status %#x\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(fake_lib_fd() == parent_fd && fake_opens == opens);
	CHECK(io_destroy(ctx) == 0);
	return 0;
}

static int closed_or_reused_descriptor_is_reopened(void)
{
	io_context_t ctx = 0;
	int fd = fake_lib_fd(), opens = fake_opens, other;

	CHECK(fd >= 0);
	close(fd);                                     /* EBADF: reopened */
	CHECK(io_setup(1, &ctx) == 0);
	CHECK(fake_opens == opens + 1);
	CHECK(io_destroy(ctx) == 0);
	fd = fake_lib_fd();
	other = open("/dev/null", O_RDONLY);           /* ENOTTY from another file: reopened */
	CHECK(other >= 0 && dup2(other, fd) == fd);
	ctx = 0;
	CHECK(io_setup(1, &ctx) == 0);
	CHECK(fake_opens == opens + 2);
	CHECK(io_destroy(ctx) == 0);
	CHECK(fcntl(fd, F_GETFD) >= 0);                /* the program's file was left alone */
	close(fd);
	close(other);
	return 0;
}

static int device_without_ioctls_gives_enotty_once(void)
{
	io_context_t ctx = 0;
	int opens = fake_opens;

	fake_enotty = 1;
	CHECK(io_setup(1, &ctx) == -ENOTTY);
	CHECK(io_destroy((io_context_t)8) == -ENOTTY);
	fake_enotty = 0;
	CHECK(fake_opens == opens);
	return 0;
}

/* ---- the shared library's symbol versions ---- */

static int library_is_the_expected_one(void)
{
	Dl_info info;

	CHECK(dladdr((void *)io_setup, &info) && info.dli_fname);
	printf("# io_setup from %s\n", info.dli_fname);
	CHECK(strstr(info.dli_fname, lib) != NULL);
	return 0;
}

static int versioned_symbols_resolve(void)
{
	static const char *const sym[][2] = {
		{ "io_queue_init", "LIBAIO_0.1" }, { "io_queue_run", "LIBAIO_0.1" },
		{ "io_queue_release", "LIBAIO_0.1" }, { "io_submit", "LIBAIO_0.1" },
		{ "io_cancel", "LIBAIO_0.1" }, { "io_getevents", "LIBAIO_0.1" },
		{ "io_queue_wait", "LIBAIO_0.1" }, { "io_setup", "LIBAIO_0.4" },
		{ "io_destroy", "LIBAIO_0.4" }, { "io_cancel", "LIBAIO_0.4" },
		{ "io_getevents", "LIBAIO_0.4" }, { "io_queue_wait", "LIBAIO_0.4" },
		{ "io_pgetevents", "LIBAIO_0.5" }, { "kaio_cancel_match", "KAIO_2" },
	};

	for (size_t i = 0; i < sizeof(sym) / sizeof(sym[0]); i++) {
		if (!dlvsym(RTLD_DEFAULT, sym[i][0], sym[i][1])) {
			printf("# %s@%s missing\n", sym[i][0], sym[i][1]);
			return 1;
		}
	}
	CHECK(dlvsym(RTLD_DEFAULT, "io_getevents", "LIBAIO_0.4") == (void *)io_getevents);
	CHECK(dlvsym(RTLD_DEFAULT, "io_getevents", "LIBAIO_0.1") != (void *)io_getevents);
	return 0;
}

static int libaio_0_1_entry_points(void)
{
	int (*getevents_0_1)(io_context_t, long, struct io_event *, const struct timespec *);
	int (*cancel_0_1)(io_context_t, struct iocb *);
	int (*queue_wait_0_1)(io_context_t, struct timespec *);
	int (*queue_wait_0_4)(io_context_t, struct timespec *);
	io_context_t ctx = 0;
	struct iocb io[2], *iop[2] = { &io[0], &io[1] };
	struct io_event ev[2];

	*(void **)&getevents_0_1 = dlvsym(RTLD_DEFAULT, "io_getevents", "LIBAIO_0.1");
	*(void **)&cancel_0_1 = dlvsym(RTLD_DEFAULT, "io_cancel", "LIBAIO_0.1");
	*(void **)&queue_wait_0_1 = dlvsym(RTLD_DEFAULT, "io_queue_wait", "LIBAIO_0.1");
	*(void **)&queue_wait_0_4 = dlvsym(RTLD_DEFAULT, "io_queue_wait", "LIBAIO_0.4");
	CHECK(getevents_0_1 && cancel_0_1 && queue_wait_0_1 && queue_wait_0_4);
	CHECK(io_setup(4, &ctx) == 0);
	prep_delay(&io[0], 1000, NULL);
	prep_delay(&io[1], 5000, NULL);
	CHECK(io_submit(ctx, 2, iop) == 2);
	CHECK(cancel_0_1(ctx, &io[1]) == -EINPROGRESS);
	/* 0.1's io_getevents waits for one event at least (min_nr 1), and takes up to nr. */
	CHECK(getevents_0_1(ctx, 2, ev, NULL) == 1);
	CHECK(ev[0].obj == &io[1] && (long)ev[0].res == -ECANCELED);
	CHECK(getevents_0_1(ctx, 2, ev, NULL) == 1);
	CHECK(ev[0].obj == &io[0] && ev[0].res == 0);
	CHECK(queue_wait_0_4(ctx, &zero) == 0);
	CHECK(queue_wait_0_1(ctx, NULL) == 0);
	CHECK(io_destroy(ctx) == 0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *noshared = "static library: no symbol versions";

	if (argc == 3 && strcmp(argv[1], "--lib") == 0)
		lib = argv[2];
	if (lib)
		*(void **)&cancel_match = dlvsym(RTLD_DEFAULT, "kaio_cancel_match", "KAIO_2");
#ifndef HOST_TEST_SYSTEM_LIBAIO
	else
		cancel_match = kaio_cancel_match;
#endif
	printf("KTAP version 1\n1..17\n");
	RUN(queue_init_rejects_nonpositive_counts_without_the_device);
	RUN(absent_device_is_enosys);
	RUN(first_use_from_many_threads_opens_once);
	RUN(errors_are_negative_errnos);
	RUN(setup_submit_cancel_getevents_destroy);
	RUN(zero_timeout_on_an_empty_ring_makes_no_call);
	RUN(queue_run_calls_each_callback_then_returns_0);
	RUN(pgetevents_is_one_ioctl_with_the_mask);
	RUN(pgetevents_on_a_version_1_module);
	RUN(cancel_match_fills_ctx_id_and_returns_counts);
	RUN(forked_child_opens_its_own_device);
	RUN(closed_or_reused_descriptor_is_reopened);
	RUN(device_without_ioctls_gives_enotty_once);
	result(lib ? library_is_the_expected_one() : 0, "library_is_the_expected_one", lib ? NULL : noshared);
	result(lib ? versioned_symbols_resolve() : 0, "versioned_symbols_resolve", lib ? NULL : noshared);
	result(lib ? libaio_0_1_entry_points() : 0, "libaio_0_1_entry_points", lib ? NULL : noshared);
	result(ntest != 16, "all_tests_ran", NULL);
	printf("# %d passed, %d failed\n", ntest - nfail, nfail);
	return nfail ? 1 : 0;
}
