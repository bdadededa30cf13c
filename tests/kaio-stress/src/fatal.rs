//! Reports a reliability program's own death on its KTAP stream.
//!
//! The fuzzer sends stdout and stderr to /dev/null (every fd number is fair game for it), so a
//! panic or a fatal signal would end the run with no word of why: the harness saw only "ran 0
//! of 5 planned cases". These hooks write the cause to the KTAP fd as diagnostics, and for a
//! signal the faulting address, the thread and the process's mappings (the fuzzer moves and
//! unmaps rings, so the maps say whose memory the address was), then let the signal kill the
//! process as it would have.

use std::sync::atomic::{AtomicI32, Ordering::Relaxed};

static OUT_FD: AtomicI32 = AtomicI32::new(-1);

/// A line built on the stack: the signal handler may not allocate.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line { buf: [0; 512], len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) -> &mut Line {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    fn dec(&mut self, mut v: u64) -> &mut Line {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    fn hex(&mut self, v: u64) -> &mut Line {
        let mut digits = [0u8; 16];
        for (i, d) in digits.iter_mut().enumerate() {
            *d = b"0123456789abcdef"[(v >> (60 - 4 * i)) as usize & 0xf];
        }
        let first = digits.iter().position(|&d| d != b'0').unwrap_or(15);
        self.push(b"0x").push(&digits[first..])
    }

    fn write(&self, fd: i32) {
        // SAFETY: writes our own buffer; write(2) is async-signal-safe.
        unsafe { libc::write(fd, self.buf.as_ptr() as *const libc::c_void, self.len) };
    }
}

/// Copies /proc/self/maps to `fd`, each line prefixed "# maps: ".
fn write_maps(fd: i32) {
    // SAFETY: open/read/close of a proc file into a stack buffer: async-signal-safe calls.
    let maps = unsafe { libc::open(c"/proc/self/maps".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if maps < 0 {
        return;
    }
    let mut line = Line::new();
    let mut chunk = [0u8; 1024];
    let mut at_start = true;
    loop {
        // SAFETY: as above.
        let n = unsafe { libc::read(maps, chunk.as_mut_ptr() as *mut libc::c_void, chunk.len()) };
        if n <= 0 {
            break;
        }
        for &b in &chunk[..n as usize] {
            if at_start {
                line.push(b"# maps: ");
                at_start = false;
            }
            line.push(&[b]);
            if b == b'\n' || line.len == line.buf.len() {
                line.write(fd);
                line.len = 0;
                at_start = b == b'\n';
            }
        }
    }
    line.write(fd);
    // SAFETY: closes the fd opened above.
    unsafe { libc::close(maps) };
}

extern "C" fn on_fatal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd = OUT_FD.load(Relaxed);
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; gettid is a syscall.
    let (addr, code, tid) = unsafe { ((*info).si_addr() as u64, (*info).si_code, libc::syscall(libc::SYS_gettid) as u64) };
    // The maps first: a summary shows a failed test's last lines.
    write_maps(fd);
    let mut line = Line::new();
    line.push(b"# fatal signal ").dec(sig as u64).push(b" (si_code ").dec(code as u32 as u64);
    line.push(b", address ").hex(addr).push(b") in thread ").dec(tid).push(b"\n");
    line.write(fd);
    Line::new().push(b"Bail out! fatal signal ").dec(sig as u64).push(b"\n").write(fd);
    // SA_RESETHAND restored the default action: returning re-runs the faulting instruction
    // (or, for a raised signal, the signal is raised again) and the process dies of it.
    // SAFETY: re-raises the signal on this thread.
    unsafe { libc::raise(sig) };
}

/// Reports panics and fatal signals on `out_fd` (the KTAP stream) from now on.
pub fn report_deaths_to(out_fd: i32) {
    OUT_FD.store(out_fd, Relaxed);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = format!("# panic: {info}\n");
        // SAFETY: writes a buffer of ours to the KTAP fd.
        unsafe { libc::write(out_fd, msg.as_ptr() as *const libc::c_void, msg.len()) };
        default(info);
    }));
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT] {
        // SAFETY: installs a handler that only formats on the stack and writes.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fatal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND | libc::SA_ONSTACK;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}
