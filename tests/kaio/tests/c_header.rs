//! The C header `tests/libaio-compat/kaio.h` against the Rust ABI (`rust/uapi.rs`), versions 1
//! and 2: a C program prints every size, offset, ioctl number and constant of the header (and
//! of `<linux/aio_abi.h>` for the shared structures), and each must equal the Rust value. A
//! change on either side, or a name one side has and the other lacks, fails this test.

use kaio::uapi::*;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../libaio-compat");

/// Compiles and runs `test/kaio_abi_dump.c`; its "kind name value" lines.
fn c_values() -> BTreeMap<String, u64> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kaio_abi_dump");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-O0", "-Wall", "-Werror", "-I", DIR, "-o"])
        .arg(&out)
        .arg(format!("{DIR}/test/kaio_abi_dump.c"))
        .status()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(st.success(), "compiling kaio_abi_dump.c failed");
    let run = Command::new(&out).output().expect("running kaio_abi_dump");
    assert!(run.status.success());
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn rust_values() -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    macro_rules! layout {
        ($c:literal, $t:ty { $($f:ident),* }) => {
            m.insert(format!("size {}", $c), size_of::<$t>() as u64);
            $( m.insert(format!("offset {}.{}", $c, stringify!($f)), offset_of!($t, $f) as u64); )*
        };
    }
    macro_rules! value {
        ($c:literal = $v:expr) => {
            m.insert(format!("value {}", $c), $v as u64);
        };
    }
    layout!("kaio_setup_args", kaio_setup_args { nr_events, flags, ctxp });
    layout!("kaio_destroy_args", kaio_destroy_args { ctx_id });
    layout!("kaio_submit_args", kaio_submit_args { ctx_id, nr, iocbpp });
    layout!("kaio_getevents_args", kaio_getevents_args { ctx_id, min_nr, nr, events, timeout });
    layout!("kaio_cancel_args", kaio_cancel_args { ctx_id, iocb, result });
    layout!("kaio_pgetevents_args", kaio_pgetevents_args {
        ctx_id, min_nr, nr, events, timeout, sigmask, sigsetsize
    });
    layout!("kaio_cancel_match_args", kaio_cancel_match_args {
        ctx_id, flags, fd, key, opcode, reserved1, nr_running, timeout, result, reserved2
    });
    layout!("kaio_ring", AioRing {
        id, nr, head, tail, magic, compat_features, incompat_features, header_length
    });
    layout!("iocb", Iocb {
        aio_data, aio_key, aio_rw_flags, aio_lio_opcode, aio_reqprio, aio_fildes, aio_buf,
        aio_nbytes, aio_offset, aio_reserved2, aio_flags, aio_resfd
    });
    layout!("io_event", IoEvent { data, obj, res, res2 });
    layout!("__kernel_timespec", KernelTimespec { tv_sec, tv_nsec });
    value!("KAIO_IOC_MAGIC" = KAIO_IOC_MAGIC);
    value!("KAIO_IOC_SETUP" = KAIO_IOC_SETUP);
    value!("KAIO_IOC_DESTROY" = KAIO_IOC_DESTROY);
    value!("KAIO_IOC_SUBMIT" = KAIO_IOC_SUBMIT);
    value!("KAIO_IOC_GETEVENTS" = KAIO_IOC_GETEVENTS);
    value!("KAIO_IOC_CANCEL" = KAIO_IOC_CANCEL);
    value!("KAIO_IOC_CANCEL_MATCH" = KAIO_IOC_CANCEL_MATCH);
    value!("KAIO_IOC_PGETEVENTS" = KAIO_IOC_PGETEVENTS);
    value!("KAIO_SETUP_POLLED_RW" = KAIO_SETUP_POLLED_RW);
    value!("KAIO_CANCEL_IOCB" = KAIO_CANCEL_IOCB);
    value!("KAIO_CANCEL_DATA" = KAIO_CANCEL_DATA);
    value!("KAIO_CANCEL_FD" = KAIO_CANCEL_FD);
    value!("KAIO_CANCEL_OP" = KAIO_CANCEL_OP);
    value!("KAIO_CANCEL_ANY" = KAIO_CANCEL_ANY);
    value!("KAIO_CANCEL_ALL" = KAIO_CANCEL_ALL);
    value!("KAIO_CANCEL_WAIT" = KAIO_CANCEL_WAIT);
    value!("KAIO_CANCEL_RESULT" = KAIO_CANCEL_RESULT);
    value!("KAIO_CMD_DELAY" = KAIO_CMD_DELAY);
    value!("KAIO_RING_MAGIC" = AIO_RING_MAGIC);
    value!("KAIO_RING_COMPAT_FEATURES" = AIO_RING_COMPAT_FEATURES);
    value!("KAIO_RING_INCOMPAT_FEATURES" = AIO_RING_INCOMPAT_FEATURES);
    value!("IOCB_CMD_PREAD" = IOCB_CMD_PREAD);
    value!("IOCB_CMD_PWRITE" = IOCB_CMD_PWRITE);
    value!("IOCB_CMD_FSYNC" = IOCB_CMD_FSYNC);
    value!("IOCB_CMD_FDSYNC" = IOCB_CMD_FDSYNC);
    value!("IOCB_CMD_POLL" = IOCB_CMD_POLL);
    value!("IOCB_CMD_NOOP" = IOCB_CMD_NOOP);
    value!("IOCB_CMD_PREADV" = IOCB_CMD_PREADV);
    value!("IOCB_CMD_PWRITEV" = IOCB_CMD_PWRITEV);
    value!("IOCB_FLAG_RESFD" = IOCB_FLAG_RESFD);
    value!("IOCB_FLAG_IOPRIO" = IOCB_FLAG_IOPRIO);
    m
}

#[test]
fn kaio_h_matches_rust_uapi() {
    let (c, rust) = (c_values(), rust_values());
    let mut diffs = Vec::new();
    for k in c.keys().chain(rust.keys().filter(|k| !c.contains_key(*k))) {
        if c.get(k) != rust.get(k) {
            diffs.push(format!("{k}: C {:?}, Rust {:?}", c.get(k), rust.get(k)));
        }
    }
    assert!(diffs.is_empty(), "kaio.h and rust/uapi.rs disagree:\n{}", diffs.join("\n"));
    assert!(c.len() >= 100, "only {} values compared", c.len());
}
