// SPDX-License-Identifier: GPL-2.0
/*
 * Prints every number of kaio.h (and of <linux/aio_abi.h> that kaio relies on) as
 * "name value" lines: sizes, offsets, ioctl numbers, constants. tests/kaio/tests/c_header.rs
 * compiles and runs it and compares each line with the Rust definitions in rust/uapi.rs.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/aio_abi.h>
#include <linux/time_types.h>
#include "kaio.h"

#define SIZE(t) printf("size %s %zu\n", #t, sizeof(struct t))
#define OFF(t, m) printf("offset %s.%s %zu\n", #t, #m, offsetof(struct t, m))
#define VAL(v) printf("value %s %llu\n", #v, (unsigned long long)(v))

int main(void)
{
	SIZE(kaio_setup_args);
	OFF(kaio_setup_args, nr_events);
	OFF(kaio_setup_args, flags);
	OFF(kaio_setup_args, ctxp);
	SIZE(kaio_destroy_args);
	OFF(kaio_destroy_args, ctx_id);
	SIZE(kaio_submit_args);
	OFF(kaio_submit_args, ctx_id);
	OFF(kaio_submit_args, nr);
	OFF(kaio_submit_args, iocbpp);
	SIZE(kaio_getevents_args);
	OFF(kaio_getevents_args, ctx_id);
	OFF(kaio_getevents_args, min_nr);
	OFF(kaio_getevents_args, nr);
	OFF(kaio_getevents_args, events);
	OFF(kaio_getevents_args, timeout);
	SIZE(kaio_cancel_args);
	OFF(kaio_cancel_args, ctx_id);
	OFF(kaio_cancel_args, iocb);
	OFF(kaio_cancel_args, result);
	SIZE(kaio_pgetevents_args);
	OFF(kaio_pgetevents_args, ctx_id);
	OFF(kaio_pgetevents_args, min_nr);
	OFF(kaio_pgetevents_args, nr);
	OFF(kaio_pgetevents_args, events);
	OFF(kaio_pgetevents_args, timeout);
	OFF(kaio_pgetevents_args, sigmask);
	OFF(kaio_pgetevents_args, sigsetsize);
	SIZE(kaio_cancel_match_args);
	OFF(kaio_cancel_match_args, ctx_id);
	OFF(kaio_cancel_match_args, flags);
	OFF(kaio_cancel_match_args, fd);
	OFF(kaio_cancel_match_args, key);
	OFF(kaio_cancel_match_args, opcode);
	OFF(kaio_cancel_match_args, reserved1);
	OFF(kaio_cancel_match_args, nr_running);
	OFF(kaio_cancel_match_args, timeout);
	OFF(kaio_cancel_match_args, result);
	OFF(kaio_cancel_match_args, reserved2);
	SIZE(kaio_ring);
	OFF(kaio_ring, id);
	OFF(kaio_ring, nr);
	OFF(kaio_ring, head);
	OFF(kaio_ring, tail);
	OFF(kaio_ring, magic);
	OFF(kaio_ring, compat_features);
	OFF(kaio_ring, incompat_features);
	OFF(kaio_ring, header_length);
	SIZE(iocb);
	OFF(iocb, aio_data);
	OFF(iocb, aio_key);
	OFF(iocb, aio_rw_flags);
	OFF(iocb, aio_lio_opcode);
	OFF(iocb, aio_reqprio);
	OFF(iocb, aio_fildes);
	OFF(iocb, aio_buf);
	OFF(iocb, aio_nbytes);
	OFF(iocb, aio_offset);
	OFF(iocb, aio_reserved2);
	OFF(iocb, aio_flags);
	OFF(iocb, aio_resfd);
	SIZE(io_event);
	OFF(io_event, data);
	OFF(io_event, obj);
	OFF(io_event, res);
	OFF(io_event, res2);
	SIZE(__kernel_timespec);
	OFF(__kernel_timespec, tv_sec);
	OFF(__kernel_timespec, tv_nsec);
	VAL(KAIO_IOC_MAGIC);
	VAL(KAIO_IOC_SETUP);
	VAL(KAIO_IOC_DESTROY);
	VAL(KAIO_IOC_SUBMIT);
	VAL(KAIO_IOC_GETEVENTS);
	VAL(KAIO_IOC_CANCEL);
	VAL(KAIO_IOC_CANCEL_MATCH);
	VAL(KAIO_IOC_PGETEVENTS);
	VAL(KAIO_SETUP_POLLED_RW);
	VAL(KAIO_CANCEL_IOCB);
	VAL(KAIO_CANCEL_DATA);
	VAL(KAIO_CANCEL_FD);
	VAL(KAIO_CANCEL_OP);
	VAL(KAIO_CANCEL_ANY);
	VAL(KAIO_CANCEL_ALL);
	VAL(KAIO_CANCEL_WAIT);
	VAL(KAIO_CANCEL_RESULT);
	VAL(KAIO_CMD_DELAY);
	VAL(KAIO_RING_MAGIC);
	VAL(KAIO_RING_COMPAT_FEATURES);
	VAL(KAIO_RING_INCOMPAT_FEATURES);
	VAL(IOCB_CMD_PREAD);
	VAL(IOCB_CMD_PWRITE);
	VAL(IOCB_CMD_FSYNC);
	VAL(IOCB_CMD_FDSYNC);
	VAL(IOCB_CMD_POLL);
	VAL(IOCB_CMD_NOOP);
	VAL(IOCB_CMD_PREADV);
	VAL(IOCB_CMD_PWRITEV);
	VAL(IOCB_FLAG_RESFD);
	VAL(IOCB_FLAG_IOPRIO);
	return 0;
}
