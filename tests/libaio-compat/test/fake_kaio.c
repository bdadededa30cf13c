// SPDX-License-Identifier: LGPL-2.1-or-later
/* The fake /dev/kaio of fake_kaio.h. Not a reference model: just enough for the library. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libaio.h>
#include "kaio.h"
#include "fake_kaio.h"

int fake_opens;
int fake_calls[8];
int fake_absent;
int fake_enotty;
int fake_v1;
int fake_running;
struct kaio_pgetevents_args fake_last_pgetevents;
struct kaio_cancel_match_args fake_last_cancel_match;

#define MAX_CTX 16
#define MAX_REQ 64

struct fake_req {
	uint64_t obj, data;
	int64_t delay;
	uint64_t seq;             /* submission order */
};

struct fake_ctx {
	struct kaio_ring *ring;   /* NULL: free slot */
	size_t len;
	pid_t pid;                /* contexts belong to the process that made them */
	int nreq;
	struct fake_req req[MAX_REQ];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_ctx ctxs[MAX_CTX];
static uint64_t next_seq;
static int node = -1;             /* the memfd standing for the device node */
static struct stat node_st;

static int raw_open(const char *path, int flags, mode_t mode)
{
	return syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static int fake_open_device(int flags)
{
	char path[64];
	int fd;

	pthread_mutex_lock(&lock);
	if (node < 0) {
		node = memfd_create("fake-kaio", MFD_CLOEXEC);
		if (node >= 0)
			fstat(node, &node_st);
	}
	pthread_mutex_unlock(&lock);
	if (node < 0)
		return -1;
	/* A new open file of the same inode, as every open of a device node is. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", node);
	fd = raw_open(path, flags, 0);
	if (fd >= 0)
		__atomic_add_fetch(&fake_opens, 1, __ATOMIC_SEQ_CST);
	return fd;
}

static int open_common(const char *path, int flags, va_list ap)
{
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, int) : 0;

	if (strcmp(path, KAIO_DEVICE) == 0) {
		if (fake_absent) {
			errno = ENOENT;
			return -1;
		}
		return fake_open_device(flags);
	}
	return raw_open(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int r;

	va_start(ap, flags);
	r = open_common(path, flags, ap);
	va_end(ap);
	return r;
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	int r;

	va_start(ap, flags);
	r = open_common(path, flags, ap);
	va_end(ap);
	return r;
}

static int is_fake(int fd)
{
	struct stat st;

	return node >= 0 && fd != node && fstat(fd, &st) == 0 && st.st_dev == node_st.st_dev &&
	       st.st_ino == node_st.st_ino;
}

int fake_lib_fd(void)
{
	for (int fd = 0; fd < 1024; fd++)
		if (is_fake(fd))
			return fd;
	return -1;
}

int fake_open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += is_fake(fd);
	return n;
}

static struct fake_ctx *lookup(uint64_t id)
{
	for (int i = 0; i < MAX_CTX; i++)
		if (ctxs[i].ring && (uint64_t)(uintptr_t)ctxs[i].ring == id && ctxs[i].pid == getpid())
			return &ctxs[i];
	return NULL;
}

int fake_in_flight(unsigned long ctx_id)
{
	struct fake_ctx *c;
	int n;

	pthread_mutex_lock(&lock);
	c = lookup(ctx_id);
	n = c ? c->nreq : -1;
	pthread_mutex_unlock(&lock);
	return n;
}

static struct io_event *slot(struct fake_ctx *c, unsigned i)
{
	return (struct io_event *)(c->ring + 1) + i;
}

/* Completes request i of c with res: its event goes to the ring's tail. */
static void complete(struct fake_ctx *c, int i, long res)
{
	struct kaio_ring *r = c->ring;
	struct io_event *ev = slot(c, r->tail);

	ev->data = (void *)(uintptr_t)c->req[i].data;
	ev->obj = (struct iocb *)(uintptr_t)c->req[i].obj;
	ev->res = res;
	ev->res2 = 0;
	__atomic_store_n(&r->tail, (r->tail + 1) % r->nr, __ATOMIC_RELEASE);
	c->req[i] = c->req[--c->nreq];
}

static unsigned avail(struct fake_ctx *c)
{
	unsigned h = c->ring->head % c->ring->nr, t = c->ring->tail % c->ring->nr;

	return h <= t ? t - h : c->ring->nr - h + t;
}

static long do_setup(struct kaio_setup_args *a)
{
	uint64_t *ctxp = (uint64_t *)(uintptr_t)a->ctxp;
	size_t len;
	struct fake_ctx *c = NULL;

	if (a->flags || *ctxp || a->nr_events == 0 || a->nr_events > MAX_REQ)
		return -EINVAL;
	for (int i = 0; i < MAX_CTX && !c; i++)
		if (!ctxs[i].ring)
			c = &ctxs[i];
	if (!c)
		return -EAGAIN;
	len = (a->nr_events + 2) * sizeof(struct io_event);
	c->ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->ring == MAP_FAILED) {
		c->ring = NULL;
		return -ENOMEM;
	}
	c->len = len;
	c->pid = getpid();
	c->nreq = 0;
	*c->ring = (struct kaio_ring){
		.id = c - ctxs, .nr = a->nr_events + 1, .magic = KAIO_RING_MAGIC,
		.compat_features = 1, .header_length = sizeof(struct kaio_ring),
	};
	*ctxp = (uint64_t)(uintptr_t)c->ring;
	return 0;
}

static long do_destroy(struct kaio_destroy_args *a)
{
	struct fake_ctx *c = lookup(a->ctx_id);

	if (!c)
		return -EINVAL;
	munmap(c->ring, c->len);
	c->ring = NULL;
	return 0;
}

static long do_submit(struct kaio_submit_args *a)
{
	struct iocb **v = (struct iocb **)(uintptr_t)a->iocbpp;
	struct fake_ctx *c = lookup(a->ctx_id);
	long i;

	if (!c || a->nr < 0)
		return -EINVAL;
	for (i = 0; i < a->nr; i++) {
		struct iocb *io = v[i];

		if (io->aio_lio_opcode != KAIO_CMD_DELAY || io->u.c.offset < 0)
			return i ? i : -EINVAL;
		if (c->nreq == MAX_REQ || avail(c) + c->nreq + 1 >= c->ring->nr)
			return i ? i : -EAGAIN;
		io->key = 0;
		c->req[c->nreq++] = (struct fake_req){
			.obj = (uint64_t)(uintptr_t)io, .data = (uint64_t)(uintptr_t)io->data,
			.delay = io->u.c.offset, .seq = next_seq++,
		};
		if (io->u.c.offset == 0)
			complete(c, c->nreq - 1, 0);
	}
	return i;
}

static long do_getevents(struct kaio_getevents_args *a)
{
	struct io_event *out = (struct io_event *)(uintptr_t)a->events;
	struct fake_ctx *c = lookup(a->ctx_id);
	long n = 0;

	if (!c || a->min_nr < 0 || a->min_nr > a->nr)
		return -EINVAL;
	/* Time passes: the shortest delays complete until min_nr events are there. */
	while (avail(c) < a->min_nr && c->nreq) {
		int best = 0;

		for (int i = 1; i < c->nreq; i++)
			if (c->req[i].delay < c->req[best].delay)
				best = i;
		complete(c, best, 0);
	}
	while (n < a->nr && avail(c)) {
		out[n++] = *slot(c, c->ring->head);
		c->ring->head = (c->ring->head + 1) % c->ring->nr;
	}
	return n;
}

static long do_cancel(struct kaio_cancel_args *a)
{
	struct fake_ctx *c = lookup(a->ctx_id);

	if (!c)
		return -EINVAL;
	for (int i = 0; i < c->nreq; i++) {
		if (c->req[i].obj == a->iocb) {
			complete(c, i, -ECANCELED);
			return -EINPROGRESS;
		}
	}
	return -EINVAL;
}

/* io_pgetevents: the mask arguments are checked as set_user_sigmask does, then getevents. */
static long do_pgetevents(struct kaio_pgetevents_args *a)
{
	struct kaio_getevents_args g = {
		.ctx_id = a->ctx_id, .min_nr = a->min_nr, .nr = a->nr,
		.events = a->events, .timeout = a->timeout,
	};

	fake_last_pgetevents = *a;
	if (a->sigmask && a->sigsetsize != 8)
		return -EINVAL;
	return do_getevents(&g);
}

#define CANCEL_SELECTORS (KAIO_CANCEL_IOCB | KAIO_CANCEL_DATA | KAIO_CANCEL_FD | KAIO_CANCEL_OP)
#define CANCEL_FLAGS (CANCEL_SELECTORS | KAIO_CANCEL_ANY | KAIO_CANCEL_ALL | KAIO_CANCEL_WAIT | \
		      KAIO_CANCEL_RESULT)

static int cancel_matches(const struct fake_req *r, const struct kaio_cancel_match_args *a)
{
	if (a->flags & KAIO_CANCEL_ANY)
		return 1;
	if ((a->flags & KAIO_CANCEL_IOCB) && r->obj != a->key)
		return 0;
	if ((a->flags & KAIO_CANCEL_DATA) && r->data != a->key)
		return 0;
	/* Every fake request is a KAIO_CMD_DELAY, which keeps no file. */
	if (a->flags & KAIO_CANCEL_FD)
		return 0;
	if ((a->flags & KAIO_CANCEL_OP) && a->opcode != KAIO_CMD_DELAY)
		return 0;
	return 1;
}

/*
 * KAIO_IOC_CANCEL_MATCH on the fake's requests. With fake_running set, every considered
 * request counts as running (nr_running) instead of being cancelled; WAIT then "waits" by
 * completing them normally (res 0).
 */
static long do_cancel_match(struct kaio_cancel_match_args *a)
{
	uint32_t f = a->flags, sel = f & CANCEL_SELECTORS;
	struct io_event *result = (struct io_event *)(uintptr_t)a->result;
	struct fake_ctx *c;
	long n = 0;
	uint32_t running = 0;
	int i;

	fake_last_cancel_match = *a;
	if ((f & ~CANCEL_FLAGS) || a->reserved1 || a->reserved2[0] || a->reserved2[1])
		return -EINVAL;
	if ((!sel && !(f & KAIO_CANCEL_ANY)) || ((f & KAIO_CANCEL_ANY) && sel) ||
	    ((f & KAIO_CANCEL_IOCB) && (f & KAIO_CANCEL_DATA)))
		return -EINVAL;
	if ((f & KAIO_CANCEL_RESULT) && (f & (KAIO_CANCEL_ALL | KAIO_CANCEL_ANY | KAIO_CANCEL_WAIT)))
		return -EINVAL;
	if ((f & KAIO_CANCEL_FD) && fcntl(a->fd, F_GETFD) < 0)
		return -EBADF;
	c = lookup(a->ctx_id);
	if (!c)
		return -EINVAL;
	if (f & (KAIO_CANCEL_ALL | KAIO_CANCEL_ANY)) {
		for (i = 0; i < c->nreq;) {
			if (!cancel_matches(&c->req[i], a)) {
				i++;
			} else if (fake_running) {
				running++;
				if (f & KAIO_CANCEL_WAIT)
					complete(c, i, 0);  /* the last request moved to i */
				else
					i++;
			} else {
				complete(c, i, -ECANCELED);
				n++;
			}
		}
	} else {
		int oldest = -1;

		for (i = 0; i < c->nreq; i++)
			if (cancel_matches(&c->req[i], a) &&
			    (oldest < 0 || c->req[i].seq < c->req[oldest].seq))
				oldest = i;
		if (oldest >= 0 && fake_running) {
			running = 1;
			if (f & KAIO_CANCEL_WAIT)
				complete(c, oldest, 0);
		} else if (oldest >= 0 && (f & KAIO_CANCEL_RESULT) && result) {
			/* The event goes to result instead of the ring. */
			*result = (struct io_event){
				.data = (void *)(uintptr_t)c->req[oldest].data,
				.obj = (struct iocb *)(uintptr_t)c->req[oldest].obj,
				.res = -ECANCELED,
			};
			c->req[oldest] = c->req[--c->nreq];
		} else if (oldest >= 0) {
			complete(c, oldest, -ECANCELED);
			n = 1;
		}
		if (oldest >= 0 && (f & KAIO_CANCEL_RESULT) && !running) {
			a->nr_running = 0;
			return result ? 0 : -EFAULT;  /* an unwritable result: the event went to the ring */
		}
	}
	a->nr_running = running;
	if (n)
		return n;
	if (running)
		return (f & KAIO_CANCEL_RESULT) ? -EAGAIN : -EALREADY;
	return (f & KAIO_CANCEL_RESULT) ? -EINVAL : -ENOENT;
}

static long fake_ioctl(unsigned long cmd, void *arg)
{
	long r;

	if (fake_enotty)
		return -ENOTTY;
	if (fake_v1 && (cmd == KAIO_IOC_PGETEVENTS || cmd == KAIO_IOC_CANCEL_MATCH))
		return -ENOTTY;
	pthread_mutex_lock(&lock);
	switch (cmd) {
	case KAIO_IOC_SETUP: r = do_setup(arg); break;
	case KAIO_IOC_DESTROY: r = do_destroy(arg); break;
	case KAIO_IOC_SUBMIT: r = do_submit(arg); break;
	case KAIO_IOC_GETEVENTS: r = do_getevents(arg); break;
	case KAIO_IOC_CANCEL: r = do_cancel(arg); break;
	case KAIO_IOC_CANCEL_MATCH: r = do_cancel_match(arg); break;
	case KAIO_IOC_PGETEVENTS: r = do_pgetevents(arg); break;
	default: r = -ENOTTY;
	}
	pthread_mutex_unlock(&lock);
	if (r != -ENOTTY)
		__atomic_add_fetch(&fake_calls[_IOC_NR(cmd)], 1, __ATOMIC_SEQ_CST);
	return r;
}

int ioctl(int fd, unsigned long cmd, ...)
{
	va_list ap;
	void *arg;
	long r;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!is_fake(fd))
		return syscall(SYS_ioctl, fd, cmd, arg);
	r = fake_ioctl(cmd, arg);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}
