// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A libaio-compatible library on /dev/kaio.
 *
 * Every libaio entry point of libaio 0.3.113, with libaio's conventions (a negative errno on
 * failure, never -1/errno), implemented on the ioctls of shared/ABI.md instead of the
 * io_*(2) system calls. Each ioctl returns what the system call it mirrors returns, so each
 * call is one ioctl plus the errno conversion. One call of kaio's own, with the same
 * conventions: kaio_cancel_match (KAIO_IOC_CANCEL_MATCH, ABI version 2, declared in kaio.h).
 *
 * The device: one /dev/kaio file per process, opened on first use (O_CLOEXEC) and shared by
 * all threads (after the first call, a call costs one ioctl and no lock); a fork()ed child
 * closes the inherited one and opens its own on first use (pthread_atfork), as its parent's
 * contexts are not its own anyway. If the program closed our descriptor behind our back
 * (EBADF, or ENOTTY because the number now names another file), the device is opened again.
 * When /dev/kaio does not exist (kaio.ko not loaded) the calls fail with -ENOSYS, which is
 * what libaio reports on a kernel without AIO.
 *
 * Symbol versions (shared library only, KAIO_SHARED): the same as libaio.so.1, including the
 * LIBAIO_0.1 compatibility entry points, so that programs linked against the real libaio run
 * on this one unchanged; kaio_cancel_match has a version node of its own, KAIO_2. The static
 * library has the plain names.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libaio.h>
#include "kaio.h"

#ifdef KAIO_SHARED
#define SYMVER(impl, name, ver) __asm__(".symver " #impl ", " #name "@" #ver)
#define SYMVER_DEFAULT(impl, name, ver) __asm__(".symver " #impl ", " #name "@@" #ver)
#define EXPORT_AS(name, impl) impl
#else
#define EXPORT_AS(name, impl) name
#endif

/* ---- The device ---------------------------------------------------------------------- */

/* The descriptor, or -1 before the first call (and in a child after fork). */
static int kaio_fd = -1;
/* Identity (device, inode) of /dev/kaio, to tell kaio_fd from a reused descriptor number. */
static dev_t kaio_dev;
static ino_t kaio_ino;
/* Serialises opening (the slow path only), so that racing first calls open the device once. */
static pthread_mutex_t kaio_open_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t kaio_atfork_once = PTHREAD_ONCE_INIT;

/* fork() waits for an open in progress, so that the child gets a consistent state. */
static void kaio_atfork_prepare(void)
{
	pthread_mutex_lock(&kaio_open_lock);
}

static void kaio_atfork_parent(void)
{
	pthread_mutex_unlock(&kaio_open_lock);
}

static void kaio_atfork_child(void)
{
	/* Only the forking thread exists here. The inherited descriptor is ours: close it. */
	if (kaio_fd >= 0)
		close(kaio_fd);
	kaio_fd = -1;
	pthread_mutex_unlock(&kaio_open_lock);
}

static void kaio_register_atfork(void)
{
	pthread_atfork(kaio_atfork_prepare, kaio_atfork_parent, kaio_atfork_child);
}

/*
 * Opens /dev/kaio in place of `stale` (-1 on first use), unless another thread already
 * replaced it. Returns the descriptor now in use, or a negative errno. The stale descriptor
 * is not closed: its number may belong to another file of the program by now.
 */
static int kaio_open(int stale)
{
	struct stat st;
	int fd;

	pthread_once(&kaio_atfork_once, kaio_register_atfork);
	pthread_mutex_lock(&kaio_open_lock);
	fd = kaio_fd;
	if (fd == stale) {
		fd = open(KAIO_DEVICE, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			fd = (errno == ENOENT || errno == ENODEV || errno == ENXIO) ? -ENOSYS : -errno;
		} else if (fstat(fd, &st) < 0) {
			int e = errno;

			close(fd);
			fd = -e;
		} else {
			__atomic_store_n(&kaio_dev, st.st_dev, __ATOMIC_RELAXED);
			__atomic_store_n(&kaio_ino, st.st_ino, __ATOMIC_RELAXED);
			__atomic_store_n(&kaio_fd, fd, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&kaio_open_lock);
	return fd;
}

/* Whether `fd` still is the /dev/kaio file we opened. */
static int kaio_fd_is_ours(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == __atomic_load_n(&kaio_dev, __ATOMIC_RELAXED) &&
	       st.st_ino == __atomic_load_n(&kaio_ino, __ATOMIC_RELAXED);
}

/* One ioctl: its non-negative result, or a negative errno. */
static long kaio_ioctl(unsigned long cmd, void *arg)
{
	int fd = __atomic_load_n(&kaio_fd, __ATOMIC_ACQUIRE);
	int retried = 0;

	if (fd < 0 && (fd = kaio_open(-1)) < 0)
		return fd;
	for (;;) {
		long r = ioctl(fd, cmd, arg);
		int e;

		if (r >= 0)
			return r;
		e = errno;
		if (retried || (e != EBADF && e != ENOTTY) || kaio_fd_is_ours(fd))
			return -e;
		retried = 1;
		if ((fd = kaio_open(fd)) < 0)
			return fd;
	}
}

static inline uint64_t ptr_u64(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* ---- The system calls ------------------------------------------------------------------ */

static int kaio_setup(int maxevents, io_context_t *ctxp)
{
	/* io_setup(2) takes an unsigned count: a negative one becomes huge (and EINVAL). */
	struct kaio_setup_args a = { .nr_events = (__u32)maxevents, .ctxp = ptr_u64(ctxp) };

	return kaio_ioctl(KAIO_IOC_SETUP, &a);
}

static int kaio_destroy(io_context_t ctx)
{
	struct kaio_destroy_args a = { .ctx_id = ptr_u64(ctx) };

	return kaio_ioctl(KAIO_IOC_DESTROY, &a);
}

static int kaio_submit(io_context_t ctx, long nr, struct iocb **ios)
{
	struct kaio_submit_args a = { .ctx_id = ptr_u64(ctx), .nr = nr, .iocbpp = ptr_u64(ios) };

	return kaio_ioctl(KAIO_IOC_SUBMIT, &a);
}

static int kaio_cancel(io_context_t ctx, struct iocb *iocb, struct io_event *evt)
{
	struct kaio_cancel_args a = {
		.ctx_id = ptr_u64(ctx), .iocb = ptr_u64(iocb), .result = ptr_u64(evt),
	};

	return kaio_ioctl(KAIO_IOC_CANCEL, &a);
}

/*
 * libaio's user-space fast path: with a zero timeout, an empty ring means 0 events without a
 * system call. Only a ring this code understands is read (magic, no incompatible features);
 * anything else, including a null ctx, goes to the kernel.
 */
static int kaio_ring_is_empty(io_context_t ctx, const struct timespec *timeout)
{
	const struct kaio_ring *ring = (const struct kaio_ring *)ctx;

	if (!ring || !timeout || timeout->tv_sec != 0 || timeout->tv_nsec != 0)
		return 0;
	if (__atomic_load_n(&ring->magic, __ATOMIC_RELAXED) != KAIO_RING_MAGIC ||
	    __atomic_load_n(&ring->incompat_features, __ATOMIC_RELAXED) != KAIO_RING_INCOMPAT_FEATURES)
		return 0;
	return __atomic_load_n(&ring->head, __ATOMIC_RELAXED) ==
	       __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
}

static int kaio_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			  struct timespec *timeout)
{
	/* struct timespec is struct __kernel_timespec on x86_64: passed as is. */
	struct kaio_getevents_args a = {
		.ctx_id = ptr_u64(ctx), .min_nr = min_nr, .nr = nr,
		.events = ptr_u64(events), .timeout = ptr_u64(timeout),
	};

	if (kaio_ring_is_empty(ctx, timeout))
		return 0;
	return kaio_ioctl(KAIO_IOC_GETEVENTS, &a);
}

/*
 * io_pgetevents(2) as one KAIO_IOC_PGETEVENTS. libaio hands the kernel { sigmask, _NSIG / 8 }
 * (the kernel's sigset_t, 8 bytes, not glibc's 128-byte one); without a mask kaio's block says
 * 0/0. On a version 1 module (no such ioctl: ENOTTY) a call without a mask is io_getevents,
 * as this library did before, and one with a mask is -ENOSYS, what libaio reports on a kernel
 * without io_pgetevents.
 */
static int kaio_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
			   struct timespec *timeout, const sigset_t *sigmask)
{
	struct kaio_pgetevents_args a = {
		.ctx_id = ptr_u64(ctx), .min_nr = min_nr, .nr = nr,
		.events = ptr_u64(events), .timeout = ptr_u64(timeout),
		.sigmask = ptr_u64(sigmask), .sigsetsize = sigmask ? _NSIG / 8 : 0,
	};
	int r;

	if (kaio_ring_is_empty(ctx, timeout))
		return 0;
	r = kaio_ioctl(KAIO_IOC_PGETEVENTS, &a);
	if (r == -ENOTTY)
		r = sigmask ? -ENOSYS : kaio_getevents(ctx, min_nr, nr, events, timeout);
	return r;
}

_Static_assert(_NSIG / 8 == 8, "the kernel's sigset_t is 8 bytes on x86_64");
_Static_assert(sizeof(struct timespec) == 16, "struct timespec is not __kernel_timespec");
_Static_assert(sizeof(struct iocb) == 64 && sizeof(struct io_event) == 32, "libaio.h layout");

/* ---- The exported entry points ----------------------------------------------------------- */

int io_setup(int maxevents, io_context_t *ctxp)
{
	return kaio_setup(maxevents, ctxp);
}

int io_destroy(io_context_t ctx)
{
	return kaio_destroy(ctx);
}

int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	return kaio_submit(ctx, nr, ios);
}

#ifdef KAIO_SHARED
SYMVER_DEFAULT(io_cancel_0_4, io_cancel, LIBAIO_0.4);
int io_cancel_0_4(io_context_t ctx, struct iocb *iocb, struct io_event *evt);
#endif
int EXPORT_AS(io_cancel, io_cancel_0_4)(io_context_t ctx, struct iocb *iocb, struct io_event *evt)
{
	return kaio_cancel(ctx, iocb, evt);
}

#ifdef KAIO_SHARED
SYMVER_DEFAULT(io_getevents_0_4, io_getevents, LIBAIO_0.4);
int io_getevents_0_4(io_context_t ctx, long min_nr, long nr, struct io_event *events,
		     struct timespec *timeout);
#endif
int EXPORT_AS(io_getevents, io_getevents_0_4)(io_context_t ctx, long min_nr, long nr,
					      struct io_event *events, struct timespec *timeout)
{
	return kaio_getevents(ctx, min_nr, nr, events, timeout);
}

int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
		  struct timespec *timeout, sigset_t *sigmask)
{
	return kaio_pgetevents(ctx, min_nr, nr, events, timeout, sigmask);
}

/*
 * kaio's own call (kaio.h): KAIO_IOC_CANCEL_MATCH on ctx with the caller's block, whose
 * nr_running the ioctl writes back. A null block is -EFAULT, as the kernel says for an
 * unreadable one.
 */
int kaio_cancel_match(io_context_t ctx, struct kaio_cancel_match_args *args)
{
	if (!args)
		return -EFAULT;
	args->ctx_id = ptr_u64(ctx);
	return kaio_ioctl(KAIO_IOC_CANCEL_MATCH, args);
}

int io_queue_init(int maxevents, io_context_t *ctxp)
{
	if (maxevents > 0) {
		*ctxp = NULL;
		return kaio_setup(maxevents, ctxp);
	}
	return -EINVAL;
}

int io_queue_release(io_context_t ctx)
{
	return kaio_destroy(ctx);
}

/*
 * libaio's io_queue_run: reap one event at a time without waiting and call the io_callback_t
 * stored in its data (io_set_callback). Returns 0 once nothing is left, or the negative errno
 * io_getevents returned.
 */
int io_queue_run(io_context_t ctx)
{
	struct timespec timeout = { 0, 0 };
	struct io_event event;
	int ret;

	while ((ret = kaio_getevents(ctx, 0, 1, &event, &timeout)) == 1) {
		io_callback_t cb = (io_callback_t)event.data;

		cb(ctx, event.obj, event.res, event.res2);
	}
	return ret;
}

#ifdef KAIO_SHARED
/* io_queue_wait(ctx, timeout): wait for events without reaping them (libaio 0.4 symbol). */
SYMVER_DEFAULT(io_queue_wait_0_4, io_queue_wait, LIBAIO_0.4);
int io_queue_wait_0_4(io_context_t ctx, struct timespec *timeout);
int io_queue_wait_0_4(io_context_t ctx, struct timespec *timeout)
{
	return kaio_getevents(ctx, 0, 0, NULL, timeout);
}

/* ---- LIBAIO_0.1 compatibility entry points, as in libaio's compat-0_1.c ---------------- */

SYMVER(compat0_1_io_cancel, io_cancel, LIBAIO_0.1);
int compat0_1_io_cancel(io_context_t ctx, struct iocb *iocb);
int compat0_1_io_cancel(io_context_t ctx, struct iocb *iocb)
{
	struct io_event event;

	return kaio_cancel(ctx, iocb, &event);
}

SYMVER(compat0_1_io_queue_wait, io_queue_wait, LIBAIO_0.1);
int compat0_1_io_queue_wait(io_context_t ctx, struct timespec *when);
int compat0_1_io_queue_wait(io_context_t ctx, struct timespec *when)
{
	struct timespec timeout;

	if (when)
		timeout = *when;
	return kaio_getevents(ctx, 0, 0, NULL, when ? &timeout : NULL);
}

/* The 0.1 io_getevents had no min_nr: it waited for at least one event. */
SYMVER(compat0_1_io_getevents, io_getevents, LIBAIO_0.1);
int compat0_1_io_getevents(io_context_t ctx, long nr, struct io_event *events,
			   const struct timespec *const_timeout);
int compat0_1_io_getevents(io_context_t ctx, long nr, struct io_event *events,
			   const struct timespec *const_timeout)
{
	struct timespec timeout;

	if (const_timeout)
		timeout = *const_timeout;
	return kaio_getevents(ctx, 1, nr, events, const_timeout ? &timeout : NULL);
}
#endif
