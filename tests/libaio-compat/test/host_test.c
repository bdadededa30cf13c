// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host tests of the libaio-compatible library against the fake /dev/kaio (fake_kaio.h): the
 * library's own logic (errno convention, lazy and per-process device, the zero-timeout fast
 * path, io_queue_*, symbol versions), not the module's. Prints KTAP; exits 1 on any failure.
 *
 *   host_test [--lib SUBSTRING]
 *
 * --lib: the library is a shared one whose path contains SUBSTRING (checked with dladdr), and
 * the LIBAIO_0.1 compatibility symbols are tested with dlvsym. Without it the library is
 * linked in statically and those tests are skipped.
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

	fake_absent = 1;
	CHECK(io_setup(1, &ctx) == -ENOSYS);
	CHECK(io_destroy((io_context_t)8) == -ENOSYS);
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

static int pgetevents_without_mask_is_getevents(void)
{
	io_context_t ctx = 0;
	struct iocb io, *iop = &io;
	struct io_event ev;
	sigset_t set;

	sigemptyset(&set);
	CHECK(io_setup(4, &ctx) == 0);
	prep_delay(&io, 1000, (void *)3L);
	CHECK(io_submit(ctx, 1, &iop) == 1);
	CHECK(io_pgetevents(ctx, 1, 1, &ev, NULL, NULL) == 1);
	CHECK(ev.obj == &io);
	CHECK(io_pgetevents(ctx, 0, 1, &ev, &zero, &set) == 0);     /* empty: fast path */
	CHECK(io_pgetevents(ctx, 1, 1, &ev, NULL, &set) == -ENOSYS);
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
		{ "io_pgetevents", "LIBAIO_0.5" },
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
	printf("KTAP version 1\n1..15\n");
	RUN(queue_init_rejects_nonpositive_counts_without_the_device);
	RUN(absent_device_is_enosys);
	RUN(first_use_from_many_threads_opens_once);
	RUN(errors_are_negative_errnos);
	RUN(setup_submit_cancel_getevents_destroy);
	RUN(zero_timeout_on_an_empty_ring_makes_no_call);
	RUN(queue_run_calls_each_callback_then_returns_0);
	RUN(pgetevents_without_mask_is_getevents);
	RUN(forked_child_opens_its_own_device);
	RUN(closed_or_reused_descriptor_is_reopened);
	RUN(device_without_ioctls_gives_enotty_once);
	result(lib ? library_is_the_expected_one() : 0, "library_is_the_expected_one", lib ? NULL : noshared);
	result(lib ? versioned_symbols_resolve() : 0, "versioned_symbols_resolve", lib ? NULL : noshared);
	result(lib ? libaio_0_1_entry_points() : 0, "libaio_0_1_entry_points", lib ? NULL : noshared);
	result(ntest != 14, "all_tests_ran", NULL);
	printf("# %d passed, %d failed\n", ntest - nfail, nfail);
	return nfail ? 1 : 0;
}
