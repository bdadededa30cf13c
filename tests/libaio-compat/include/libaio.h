/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libaio.h for kaio's libaio-compatible library (tests/libaio-compat).
 *
 * Source-compatible with libaio 0.3.113's <libaio.h> on x86_64 (the only architecture kaio's
 * ABI defines): the same types, structure layouts, member names, prototypes and inline
 * helpers, so unmodified libaio programs build against it. The build checks it against the
 * system's <libaio.h> when libaio-dev is installed (make check-system-header).
 *
 * All functions return a negative errno on failure (never -1 with errno), as libaio does.
 */
#ifndef __LIBAIO_H
#define __LIBAIO_H

#ifdef __cplusplus
extern "C" {
#endif

#include <sys/types.h>
#include <string.h>
#include <signal.h>

#if !defined(__LP64__) || !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kaio's libaio.h supports 64-bit little-endian targets only"
#endif

struct timespec;
struct sockaddr;
struct iovec;

typedef struct io_context *io_context_t;

typedef enum io_iocb_cmd {
	IO_CMD_PREAD = 0,
	IO_CMD_PWRITE = 1,

	IO_CMD_FSYNC = 2,
	IO_CMD_FDSYNC = 3,

	IO_CMD_POLL = 5,
	IO_CMD_NOOP = 6,
	IO_CMD_PREADV = 7,
	IO_CMD_PWRITEV = 8,
} io_iocb_cmd_t;

/* On LP64 little endian, libaio's PADDED* macros add no padding: pointers and longs are 64-bit. */

struct io_iocb_poll {
	int events, __pad1;
};	/* res: the ready events, or a negative errno */

struct io_iocb_sockaddr {
	struct sockaddr *addr;
	unsigned long len;
};

struct io_iocb_common {
	void *buf;
	unsigned long nbytes;
	long long offset;
	long long __pad3;
	unsigned flags;
	unsigned resfd;
};	/* res: bytes transferred, or a negative errno */

struct io_iocb_vector {
	const struct iovec *vec;
	unsigned long nr;
	long long offset;
};	/* res: bytes transferred, or a negative errno */

struct iocb {
	void *data;		/* returned in the completion event */
	unsigned key, aio_rw_flags;	/* key: set by io_submit; aio_rw_flags: RWF_* */

	short aio_lio_opcode;
	short aio_reqprio;
	int aio_fildes;

	union {
		struct io_iocb_common c;
		struct io_iocb_vector v;
		struct io_iocb_poll poll;
		struct io_iocb_sockaddr saddr;
	} u;
};

struct io_event {
	void *data;
	struct iocb *obj;
	unsigned long res;
	unsigned long res2;
};

struct io_sigset {
	unsigned long ss;
	unsigned long ss_len;
};

struct io_sigset_compat {
	unsigned long ss;
	unsigned long ss_len;
};

typedef void (*io_callback_t)(io_context_t ctx, struct iocb *iocb, long res, long res2);

/* library wrappers */
extern int io_queue_init(int maxevents, io_context_t *ctxp);
extern int io_queue_release(io_context_t ctx);
extern int io_queue_run(io_context_t ctx);

/* the system calls (here: the /dev/kaio ioctls) */
extern int io_setup(int maxevents, io_context_t *ctxp);
extern int io_destroy(io_context_t ctx);
extern int io_submit(io_context_t ctx, long nr, struct iocb *ios[]);
extern int io_cancel(io_context_t ctx, struct iocb *iocb, struct io_event *evt);
extern int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events, struct timespec *timeout);
extern int io_pgetevents(io_context_t ctx, long min_nr, long nr,
		struct io_event *events, struct timespec *timeout,
		sigset_t *sigmask);

static inline void io_set_callback(struct iocb *iocb, io_callback_t cb)
{
	iocb->data = (void *)cb;
}

static inline void io_prep_rw_(struct iocb *iocb, int fd, int opcode, void *buf,
			       unsigned long nbytes, long long offset, int rw_flags)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_fildes = fd;
	iocb->aio_lio_opcode = opcode;
	iocb->aio_reqprio = 0;
	iocb->aio_rw_flags = rw_flags;
	iocb->u.c.buf = buf;
	iocb->u.c.nbytes = nbytes;
	iocb->u.c.offset = offset;
}

static inline void io_prep_pread(struct iocb *iocb, int fd, void *buf, size_t count, long long offset)
{
	io_prep_rw_(iocb, fd, IO_CMD_PREAD, buf, count, offset, 0);
}

static inline void io_prep_pwrite(struct iocb *iocb, int fd, void *buf, size_t count, long long offset)
{
	io_prep_rw_(iocb, fd, IO_CMD_PWRITE, buf, count, offset, 0);
}

static inline void io_prep_preadv(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset)
{
	io_prep_rw_(iocb, fd, IO_CMD_PREADV, (void *)iov, iovcnt, offset, 0);
}

static inline void io_prep_pwritev(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset)
{
	io_prep_rw_(iocb, fd, IO_CMD_PWRITEV, (void *)iov, iovcnt, offset, 0);
}

static inline void io_prep_preadv2(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset, int flags)
{
	io_prep_rw_(iocb, fd, IO_CMD_PREADV, (void *)iov, iovcnt, offset, flags);
}

static inline void io_prep_pwritev2(struct iocb *iocb, int fd, const struct iovec *iov, int iovcnt, long long offset, int flags)
{
	io_prep_rw_(iocb, fd, IO_CMD_PWRITEV, (void *)iov, iovcnt, offset, flags);
}

static inline void io_prep_poll(struct iocb *iocb, int fd, int events)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_fildes = fd;
	iocb->aio_lio_opcode = IO_CMD_POLL;
	iocb->aio_reqprio = 0;
	iocb->u.poll.events = events;
}

static inline int io_poll(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd, int events)
{
	io_prep_poll(iocb, fd, events);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline void io_prep_fsync(struct iocb *iocb, int fd)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_fildes = fd;
	iocb->aio_lio_opcode = IO_CMD_FSYNC;
	iocb->aio_reqprio = 0;
}

static inline int io_fsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fsync(iocb, fd);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline void io_prep_fdsync(struct iocb *iocb, int fd)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->aio_fildes = fd;
	iocb->aio_lio_opcode = IO_CMD_FDSYNC;
	iocb->aio_reqprio = 0;
}

static inline int io_fdsync(io_context_t ctx, struct iocb *iocb, io_callback_t cb, int fd)
{
	io_prep_fdsync(iocb, fd);
	io_set_callback(iocb, cb);
	return io_submit(ctx, 1, &iocb);
}

static inline void io_set_eventfd(struct iocb *iocb, int eventfd)
{
	iocb->u.c.flags |= (1 << 0) /* IOCB_FLAG_RESFD */;
	iocb->u.c.resfd = eventfd;
}

#ifdef __cplusplus
}
#endif

#endif /* __LIBAIO_H */
