/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kaio user ABI, versions 1 and 2: the ioctls of /dev/kaio (shared/ABI.md). Version 2 adds
 * KAIO_IOC_PGETEVENTS, KAIO_IOC_CANCEL_MATCH and the setup flag KAIO_SETUP_POLLED_RW; nothing
 * of version 1 changes meaning.
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
	__u32 flags;              /* 0, or KAIO_SETUP_POLLED_RW (version 2); other bits: EINVAL */
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

/* ---- Version 2: cancellation beyond fs/aio.c ---- */

/* kaio_setup_args.flags: reads and writes that wait without blocking, and can be cancelled. */
#define KAIO_SETUP_POLLED_RW (1U << 0)

struct kaio_pgetevents_args {     /* io_pgetevents(ctx_id, min_nr, nr, events, timeout, usig) */
	__u64 ctx_id;
	__s64 min_nr;
	__s64 nr;
	__u64 events;             /* struct io_event __user * */
	__u64 timeout;            /* struct __kernel_timespec __user *, 0 = no timeout */
	__u64 sigmask;            /* sigset_t __user *, 0 = none */
	__u64 sigsetsize;         /* must be sizeof(sigset_t) (8) when sigmask != 0 */
};

struct kaio_cancel_match_args {
	__u64 ctx_id;
	__u32 flags;              /* KAIO_CANCEL_* below; unknown bits: EINVAL */
	__s32 fd;                 /* KAIO_CANCEL_FD: requests on the file this fd names now */
	__u64 key;                /* KAIO_CANCEL_IOCB: iocb user address; KAIO_CANCEL_DATA: aio_data */
	__u16 opcode;             /* KAIO_CANCEL_OP: aio_lio_opcode */
	__u16 reserved1;          /* must be 0 */
	__u32 nr_running;         /* out: requests that matched but could not be cancelled */
	__u64 timeout;            /* KAIO_CANCEL_WAIT: struct __kernel_timespec __user *, 0 = none */
	__u64 result;             /* KAIO_CANCEL_RESULT: struct io_event __user * */
	__u64 reserved2[2];       /* must be 0 */
};                                /* 64 bytes */

#define KAIO_CANCEL_IOCB    (1U << 0) /* match ki_res.obj == key (what io_cancel matches) */
#define KAIO_CANCEL_DATA    (1U << 1) /* match aio_data == key (io_uring's user_data) */
#define KAIO_CANCEL_FD      (1U << 2) /* match the file (struct file, not the number) */
#define KAIO_CANCEL_OP      (1U << 3) /* match aio_lio_opcode == opcode */
#define KAIO_CANCEL_ANY     (1U << 4) /* match every request; implies ALL */
#define KAIO_CANCEL_ALL     (1U << 5) /* every match, not only the oldest */
#define KAIO_CANCEL_WAIT    (1U << 6) /* return when no matched request is in flight */
#define KAIO_CANCEL_RESULT  (1U << 7) /* io_cancel(2) as its man page describes it */

#define KAIO_IOC_CANCEL_MATCH _IOWR(KAIO_IOC_MAGIC, 6, struct kaio_cancel_match_args)
#define KAIO_IOC_PGETEVENTS   _IOW(KAIO_IOC_MAGIC, 7, struct kaio_pgetevents_args)

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

/*
 * The libaio-compatible library's own extension (not a libaio call; tests/libaio-compat,
 * libaio.so.1 symbol version KAIO_2). ctx is libaio's io_context_t (a struct io_context *),
 * so this header needs no <libaio.h>.
 *
 * kaio_cancel_match: sets args->ctx_id to ctx and issues KAIO_IOC_CANCEL_MATCH with args on
 * the library's /dev/kaio descriptor. Returns, as every libaio call, what the ioctl returns
 * with errno as a negative value: the number of requests cancelled (>= 0; 0 for a successful
 * KAIO_CANCEL_RESULT), or -ENOENT, -EALREADY, -EINVAL, -EBADF, -EFAULT (also for a null
 * args), -ETIME, -EINTR, -EAGAIN; -ENOTTY from a version 1 module, -ENOSYS without
 * /dev/kaio. args->nr_running comes back as the ioctl wrote it.
 */
#ifdef __cplusplus
extern "C" {
#endif
struct io_context;
extern int kaio_cancel_match(struct io_context *ctx, struct kaio_cancel_match_args *args);
#ifdef __cplusplus
}
#endif

#endif /* KAIO_UAPI_H */
