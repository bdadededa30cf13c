/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kaio user ABI, version 1: the ioctls of /dev/kaio (shared/ABI.md).
 *
 * struct iocb, struct io_event and aio_context_t are Linux's (<linux/aio_abi.h>, or libaio's
 * <libaio.h>); this header adds only what kaio defines. Every ioctl returns what the system
 * call it mirrors returns: a count or 0, or -1 with errno set to the error Linux would set.
 * The Rust definitions (rust/uapi.rs) are the same ABI; tests/kaio/tests/c_header.rs checks
 * that the two agree.
 */
#ifndef KAIO_UAPI_H
#define KAIO_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KAIO_DEVICE "/dev/kaio"

#define KAIO_IOC_MAGIC 0xA7

struct kaio_setup_args {          /* io_setup(nr_events, ctxp) */
	__u32 nr_events;
	__u32 flags;              /* must be 0 */
	__u64 ctxp;               /* aio_context_t __user *, must point at 0 */
};
struct kaio_destroy_args {        /* io_destroy(ctx_id) */
	__u64 ctx_id;
};
struct kaio_submit_args {         /* io_submit(ctx_id, nr, iocbpp) */
	__u64 ctx_id;
	__s64 nr;
	__u64 iocbpp;             /* struct iocb __user * __user * */
};
struct kaio_getevents_args {      /* io_getevents(ctx_id, min_nr, nr, events, timeout) */
	__u64 ctx_id;
	__s64 min_nr;
	__s64 nr;
	__u64 events;             /* struct io_event __user * */
	__u64 timeout;            /* struct __kernel_timespec __user *, 0 = no timeout */
};
struct kaio_cancel_args {         /* io_cancel(ctx_id, iocb, result) */
	__u64 ctx_id;
	__u64 iocb;               /* struct iocb __user * */
	__u64 result;             /* struct io_event __user *, unused, as in Linux since 3.12 */
};

#define KAIO_IOC_SETUP     _IOW(KAIO_IOC_MAGIC, 1, struct kaio_setup_args)
#define KAIO_IOC_DESTROY   _IOW(KAIO_IOC_MAGIC, 2, struct kaio_destroy_args)
#define KAIO_IOC_SUBMIT    _IOW(KAIO_IOC_MAGIC, 3, struct kaio_submit_args)
#define KAIO_IOC_GETEVENTS _IOW(KAIO_IOC_MAGIC, 4, struct kaio_getevents_args)
#define KAIO_IOC_CANCEL    _IOW(KAIO_IOC_MAGIC, 5, struct kaio_cancel_args)

/*
 * The opcode kaio adds (aio_lio_opcode): a timer request. aio_offset = delay in nanoseconds
 * (>= 0), aio_buf = aio_nbytes = 0, aio_fildes any open file descriptor (not kept). Completes
 * with res = 0 after the delay, or res = -ECANCELED if cancelled first.
 */
#define KAIO_CMD_DELAY 0x4B00

/*
 * The completion ring mapped at the ctx id address (Linux's struct aio_ring in fs/aio.c,
 * named kaio_ring here so that programs with their own struct aio_ring can include this).
 * Events [head, tail) modulo nr are unread; user space may reap them and advance head.
 */
struct kaio_ring {
	__u32 id;                 /* index of the context in its domain's table */
	__u32 nr;                 /* number of io_event slots */
	__u32 head;
	__u32 tail;
	__u32 magic;              /* KAIO_RING_MAGIC */
	__u32 compat_features;    /* KAIO_RING_COMPAT_FEATURES */
	__u32 incompat_features;  /* KAIO_RING_INCOMPAT_FEATURES */
	__u32 header_length;      /* sizeof(struct kaio_ring) */
	/* struct io_event io_events[nr] follows */
};

#define KAIO_RING_MAGIC             0xa10a10a1
#define KAIO_RING_COMPAT_FEATURES   1
#define KAIO_RING_INCOMPAT_FEATURES 0

#endif /* KAIO_UAPI_H */
