//! The ABI of `ABI.md`, checked against values written here by hand: sizes, field offsets and
//! ioctl numbers. A change to `rust/uapi.rs` that moves a byte fails this test.

use kaio::uapi::*;
use std::mem::{offset_of, size_of};

#[test]
fn iocb_matches_aio_abi_h() {
    assert_eq!(size_of::<Iocb>(), 64);
    assert_eq!(offset_of!(Iocb, aio_data), 0);
    assert_eq!(offset_of!(Iocb, aio_key), 8);
    assert_eq!(offset_of!(Iocb, aio_rw_flags), 12);
    assert_eq!(offset_of!(Iocb, aio_lio_opcode), 16);
    assert_eq!(offset_of!(Iocb, aio_reqprio), 18);
    assert_eq!(offset_of!(Iocb, aio_fildes), 20);
    assert_eq!(offset_of!(Iocb, aio_buf), 24);
    assert_eq!(offset_of!(Iocb, aio_nbytes), 32);
    assert_eq!(offset_of!(Iocb, aio_offset), 40);
    assert_eq!(offset_of!(Iocb, aio_reserved2), 48);
    assert_eq!(offset_of!(Iocb, aio_flags), 56);
    assert_eq!(offset_of!(Iocb, aio_resfd), 60);
}

#[test]
fn io_event_matches_aio_abi_h() {
    assert_eq!(size_of::<IoEvent>(), 32);
    assert_eq!(offset_of!(IoEvent, data), 0);
    assert_eq!(offset_of!(IoEvent, obj), 8);
    assert_eq!(offset_of!(IoEvent, res), 16);
    assert_eq!(offset_of!(IoEvent, res2), 24);
}

#[test]
fn aio_ring_header_matches_fs_aio_c() {
    assert_eq!(size_of::<AioRing>(), 32);
    let offsets = [
        offset_of!(AioRing, id),
        offset_of!(AioRing, nr),
        offset_of!(AioRing, head),
        offset_of!(AioRing, tail),
        offset_of!(AioRing, magic),
        offset_of!(AioRing, compat_features),
        offset_of!(AioRing, incompat_features),
        offset_of!(AioRing, header_length),
    ];
    assert_eq!(offsets, [0, 4, 8, 12, 16, 20, 24, 28]);
    assert_eq!(AIO_RING_MAGIC, 0xa10a10a1);
    assert_eq!(AIO_RING_COMPAT_FEATURES, 1);
    assert_eq!(AIO_RING_INCOMPAT_FEATURES, 0);
}

#[test]
fn argument_blocks_match_abi_md() {
    assert_eq!(size_of::<kaio_setup_args>(), 16);
    assert_eq!(offset_of!(kaio_setup_args, nr_events), 0);
    assert_eq!(offset_of!(kaio_setup_args, flags), 4);
    assert_eq!(offset_of!(kaio_setup_args, ctxp), 8);
    assert_eq!(size_of::<kaio_destroy_args>(), 8);
    assert_eq!(size_of::<kaio_submit_args>(), 24);
    assert_eq!(offset_of!(kaio_submit_args, ctx_id), 0);
    assert_eq!(offset_of!(kaio_submit_args, nr), 8);
    assert_eq!(offset_of!(kaio_submit_args, iocbpp), 16);
    assert_eq!(size_of::<kaio_getevents_args>(), 40);
    assert_eq!(offset_of!(kaio_getevents_args, ctx_id), 0);
    assert_eq!(offset_of!(kaio_getevents_args, min_nr), 8);
    assert_eq!(offset_of!(kaio_getevents_args, nr), 16);
    assert_eq!(offset_of!(kaio_getevents_args, events), 24);
    assert_eq!(offset_of!(kaio_getevents_args, timeout), 32);
    assert_eq!(size_of::<kaio_cancel_args>(), 24);
    assert_eq!(offset_of!(kaio_cancel_args, ctx_id), 0);
    assert_eq!(offset_of!(kaio_cancel_args, iocb), 8);
    assert_eq!(offset_of!(kaio_cancel_args, result), 16);
    assert_eq!(size_of::<KernelTimespec>(), 16);
}

#[test]
fn version_2_argument_blocks_match_abi_md() {
    assert_eq!(size_of::<kaio_pgetevents_args>(), 56);
    assert_eq!(offset_of!(kaio_pgetevents_args, ctx_id), 0);
    assert_eq!(offset_of!(kaio_pgetevents_args, min_nr), 8);
    assert_eq!(offset_of!(kaio_pgetevents_args, nr), 16);
    assert_eq!(offset_of!(kaio_pgetevents_args, events), 24);
    assert_eq!(offset_of!(kaio_pgetevents_args, timeout), 32);
    assert_eq!(offset_of!(kaio_pgetevents_args, sigmask), 40);
    assert_eq!(offset_of!(kaio_pgetevents_args, sigsetsize), 48);
    assert_eq!(size_of::<kaio_cancel_match_args>(), 64);
    assert_eq!(offset_of!(kaio_cancel_match_args, ctx_id), 0);
    assert_eq!(offset_of!(kaio_cancel_match_args, flags), 8);
    assert_eq!(offset_of!(kaio_cancel_match_args, fd), 12);
    assert_eq!(offset_of!(kaio_cancel_match_args, key), 16);
    assert_eq!(offset_of!(kaio_cancel_match_args, opcode), 24);
    assert_eq!(offset_of!(kaio_cancel_match_args, reserved1), 26);
    assert_eq!(offset_of!(kaio_cancel_match_args, nr_running), 28);
    assert_eq!(offset_of!(kaio_cancel_match_args, timeout), 32);
    assert_eq!(offset_of!(kaio_cancel_match_args, result), 40);
    assert_eq!(offset_of!(kaio_cancel_match_args, reserved2), 48);
}

#[test]
fn version_2_flags_match_abi_md() {
    assert_eq!(KAIO_SETUP_POLLED_RW, 1);
    let flags = [
        KAIO_CANCEL_IOCB,
        KAIO_CANCEL_DATA,
        KAIO_CANCEL_FD,
        KAIO_CANCEL_OP,
        KAIO_CANCEL_ANY,
        KAIO_CANCEL_ALL,
        KAIO_CANCEL_WAIT,
        KAIO_CANCEL_RESULT,
    ];
    assert_eq!(flags, [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80]);
}

#[test]
fn ioctl_numbers_match_abi_md() {
    // _IOW(0xA7, nr, size) = (1 << 30) | (size << 16) | (0xA7 << 8) | nr, computed by hand.
    assert_eq!(KAIO_IOC_SETUP, 0x4010_A701);
    assert_eq!(KAIO_IOC_DESTROY, 0x4008_A702);
    assert_eq!(KAIO_IOC_SUBMIT, 0x4018_A703);
    assert_eq!(KAIO_IOC_GETEVENTS, 0x4028_A704);
    assert_eq!(KAIO_IOC_CANCEL, 0x4018_A705);
    // Version 2. _IOWR(0xA7, 6, 64) = ((1 | 2) << 30) | (0x40 << 16) | (0xA7 << 8) | 6;
    // _IOW(0xA7, 7, 56) = (1 << 30) | (0x38 << 16) | (0xA7 << 8) | 7.
    assert_eq!(KAIO_IOC_CANCEL_MATCH, 0xC040_A706);
    assert_eq!(KAIO_IOC_PGETEVENTS, 0x4038_A707);
}

#[test]
fn opcodes_match_abi_md() {
    assert_eq!(
        [IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC, IOCB_CMD_POLL],
        [0, 1, 2, 3, 5]
    );
    assert_eq!([IOCB_CMD_NOOP, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV], [6, 7, 8]);
    assert_eq!(KAIO_CMD_DELAY, 0x4B00);
    assert_eq!((IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO), (1, 2));
    assert_eq!(KIOCB_KEY, 0);
}
