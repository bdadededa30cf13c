// SPDX-License-Identifier: GPL-2.0
//! The process's one kaio context, its completion reaper, and notification delivery.
//!
//! One context per process, created on first use (`KAIO_SETUP_POLLED_RW`, or flags 0 on a
//! module without it). The mapped completion ring is consumed only under
//! [`Process::reap_lock`], by whichever thread wants a result: `aio_error`/`aio_return` and
//! `aio_suspend` reap it from user space (no system call: a regular-file read has posted its
//! event before `io_submit` returned); a waiter that still has nothing sleeps in
//! `KAIO_IOC_GETEVENTS` holding the lock (the kernel's reader then is the only one), so the
//! completion wakes it directly; other waiters sleep on [`Process::seq`] and one takes over
//! when it leaves. Reaping stores each result in its aiocb and delivers its notification,
//! whoever reaps. Requests with a notification (`SIGEV_SIGNAL`, `SIGEV_THREAD`, a
//! `LIO_NOWAIT` list's) also carry `IOCB_FLAG_RESFD` with the process's eventfd: a reaper
//! thread (all signals blocked, started by the first such request) sleeps in `read(eventfd)`
//! and reaps, so that they are delivered even if nobody looks. `aio_cancel` runs its ioctl,
//! then takes the lock and reaps (a lock holder blocked in `KAIO_IOC_GETEVENTS` is woken by
//! the cancelled events) and waits for notifications being delivered by other threads.
//!
//! A request is a [`Req`] in a slot of the process's [`Pool`] (as many slots as the ring):
//! its `iocb` is the first field, so an event's `obj` (the iocb's address) is the `Req`;
//! `aio_data` is the `aiocb`'s address, which is what `aio_cancel(fd, aiocb)` matches with
//! `KAIO_CANCEL_DATA`.
//!
//! Signal handlers: `aio_error` and `aio_return` are async-signal-safe (POSIX). They reap only
//! completions that need nothing delivered (no notification, no list: [`Process::try_reap_plain`]),
//! which takes no lock it could wait for, allocates and frees nothing and starts no thread;
//! at the first other completion they stop. Those requests all carry `IOCB_FLAG_RESFD`, so the
//! reaper thread reaps them (or a waiter does).
//!
//! Status, as glibc keeps it: `aiocb.__error_code` is `EINPROGRESS` from submit until the
//! event is reaped, then 0 or the error (written after `__return_value`, with release
//! ordering); notifications are delivered after that, outside the lock, and then `seq` is
//! bumped (a `lio_listio(LIO_WAIT)` caller waits for its list's count, which drops in the
//! delivery).
//!
//! Fork: a `pthread_atfork` child handler forgets the parent's state (the reaper thread does
//! not exist in the child, the context belongs to the parent's mm); the child's first call
//! opens `/dev/kaio` again. The parent's lock is never touched in the child.

use crate::abi::*;
use crate::own_fd::{self, Identity};
use crate::pool::Pool;
use crate::uapi::*;
use libc::{c_int, c_long, c_void, timespec};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};

/// Request slots of the context (`io_setup`'s `nr_events`): more requests in flight at once
/// than this are refused with `EAGAIN` (POSIX: "not queued due to system resource limits").
pub const NR_EVENTS: u32 = 1024;

/// The calling thread's `errno`.
pub fn errno() -> c_int {
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
pub fn set_errno(e: c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e }
}

fn ioctl<T>(fd: c_int, cmd: u32, arg: *mut T) -> Result<c_long, c_int> {
    // SAFETY: `arg` points at the argument block `cmd` expects, owned by the caller.
    let r = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as c_long)
    }
}

/// How a completion is announced: a copy of the `struct sigevent` taken at submit.
#[derive(Clone, Copy)]
pub struct Notify(pub SigEvent);

impl Notify {
    pub fn none() -> Notify {
        // SAFETY: `SigEvent` is plain data; all-zero is valid (null pointers, `None`).
        let mut s: SigEvent = unsafe { core::mem::zeroed() };
        s.sigev_notify = SIGEV_NONE;
        Notify(s)
    }

    /// Whether there is anything to deliver: `SIGEV_SIGNAL` of a signal (a zeroed aiocb's
    /// signal 0 sends nothing) or `SIGEV_THREAD`; other `sigev_notify` values notify nothing,
    /// as in glibc. Only such requests carry `IOCB_FLAG_RESFD` (with those of lists).
    pub fn notifies(&self) -> bool {
        let s = &self.0;
        (s.sigev_notify == SIGEV_SIGNAL && s.sigev_signo != 0) || s.sigev_notify == SIGEV_THREAD
    }

    /// Delivers the notification as glibc's `__aio_notify_only` does: `SIGEV_SIGNAL` queues
    /// `sigev_signo` to this process with `si_code` `SI_ASYNCIO` and `si_value`;
    /// `SIGEV_THREAD` runs `sigev_notify_function(sigev_value)` in a new thread (detached,
    /// or with `sigev_notify_attributes`); anything else, nothing.
    pub fn deliver(&self) {
        let s = &self.0;
        match s.sigev_notify {
            SIGEV_SIGNAL => queue_signal(s.sigev_signo, s.sigev_value),
            SIGEV_THREAD => {
                if let Some(f) = s.sigev_notify_function {
                    start_notify_thread(f, s.sigev_value, s.sigev_notify_attributes);
                }
            }
            _ => {}
        }
    }
}

fn queue_signal(signo: c_int, value: *mut c_void) {
    // siginfo_t for a queued signal (x86_64): si_signo, si_errno, si_code, then at 16 si_pid,
    // si_uid, and at 24 si_value.
    let mut info = [0u8; 128];
    // SAFETY: plain system calls with no memory arguments.
    let (pid, uid) = unsafe { (libc::getpid(), libc::getuid()) };
    info[0..4].copy_from_slice(&signo.to_ne_bytes());
    info[8..12].copy_from_slice(&SI_ASYNCIO.to_ne_bytes());
    info[16..20].copy_from_slice(&pid.to_ne_bytes());
    info[20..24].copy_from_slice(&uid.to_ne_bytes());
    info[24..32].copy_from_slice(&(value as usize).to_ne_bytes());
    // SAFETY: `info` is a 128-byte siginfo_t the kernel only reads. A failure (a bad signal
    // number) is ignored, as glibc ignores it: there is nobody to report it to.
    unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, pid, signo, info.as_ptr()) };
}

struct ThreadNotify {
    function: unsafe extern "C" fn(*mut c_void),
    value: *mut c_void,
}

extern "C" fn notify_thread(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Box<ThreadNotify>` that `start_notify_thread` leaked for us.
    let n = unsafe { Box::from_raw(arg as *mut ThreadNotify) };
    // The thread is created from the reaper (every signal blocked); the program's function
    // runs with none blocked, as glibc's notification threads do.
    // SAFETY: an empty set is a valid mask; the old mask is not wanted.
    unsafe {
        let mut empty: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, core::ptr::null_mut());
        (n.function)(n.value);
    }
    core::ptr::null_mut()
}

fn start_notify_thread(
    function: unsafe extern "C" fn(*mut c_void),
    value: *mut c_void,
    attr: *mut libc::pthread_attr_t,
) {
    let arg = Box::into_raw(Box::new(ThreadNotify { function, value })) as *mut c_void;
    // SAFETY: `attr` is the program's (it keeps it valid while requests use it, as POSIX
    // requires) or our own initialised detached attribute object.
    unsafe {
        let mut tid: libc::pthread_t = 0;
        let mut own: libc::pthread_attr_t = core::mem::zeroed();
        let pattr = if attr.is_null() {
            libc::pthread_attr_init(&mut own);
            libc::pthread_attr_setdetachstate(&mut own, libc::PTHREAD_CREATE_DETACHED);
            &own as *const libc::pthread_attr_t
        } else {
            attr as *const libc::pthread_attr_t
        };
        let r = libc::pthread_create(&mut tid, pattr, notify_thread, arg);
        if attr.is_null() {
            libc::pthread_attr_destroy(&mut own);
        }
        if r != 0 {
            // No thread: the notification is lost, as in glibc; free what it would have.
            drop(Box::from_raw(arg as *mut ThreadNotify));
        }
    }
}

/// A `lio_listio` call's requests: counts them down and announces the whole list.
pub struct ListGroup {
    /// Requests not yet completed, plus one held by `lio_listio` while it submits (so the
    /// list cannot complete before every request is in). A futex word for `LIO_WAIT`.
    pub remaining: AtomicU32,
    /// Some request of the list completed with an error (`LIO_WAIT`: `EIO`).
    pub failed: AtomicBool,
    /// `LIO_NOWAIT`'s `sig`; none for `LIO_WAIT`.
    pub notify: Notify,
}

impl ListGroup {
    /// Drops one count; the last one announces the list and wakes a `LIO_WAIT` caller.
    pub fn put(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.notify.deliver();
            futex_wake(&self.remaining);
        }
    }
}

/// One request in flight. `#[repr(C)]` with the iocb first: the event's `obj` is the `Req`.
#[repr(C)]
pub struct Req {
    pub iocb: Iocb,
    pub aiocb: *mut Aiocb,
    pub notify: Notify,
    pub group: Option<Arc<ListGroup>>,
}

// SAFETY: its pointers are the program's aiocb and sigevent values (a `sigev_value`, a
// function, an attribute object), which POSIX has the implementation use from whichever
// thread completes the request.
unsafe impl Send for Req {}

/// What a reap found, delivered once the ring lock is dropped.
enum Delivery {
    Notify(Notify),
    ListDone(Arc<ListGroup>),
}

/// This process's kaio state. Created once per process and never freed (a forked child
/// abandons its parent's copy).
pub struct Process {
    /// The `/dev/kaio` descriptor (`O_CLOEXEC`).
    pub dev: c_int,
    /// What `dev` and `efd` were when opened, for a forked child to recognise them.
    dev_identity: Identity,
    efd_identity: Identity,
    /// The context (the ring's address).
    pub ctx: u64,
    /// The mapped ring's length, for `munmap` in a forked child.
    ring_len: usize,
    /// Signalled by the completion of every request with a notification
    /// (`IOCB_FLAG_RESFD`); the reaper sleeps on it.
    pub efd: c_int,
    /// The context was set up with `KAIO_SETUP_POLLED_RW`.
    pub polled_rw: bool,
    /// The requests in flight (and completed, not yet reaped): one slot per ring slot.
    reqs: Pool<Req>,
    /// Serialises consumption of the ring.
    reap_lock: Mutex<()>,
    /// Bumped after each reap that completed something; futex word for `aio_suspend`.
    pub seq: AtomicU32,
    /// Threads sleeping on `seq`.
    pub waiters: AtomicU32,
    /// The reaper thread runs (started by the first request with a notification).
    reaper_started: AtomicBool,
    /// Serialises the reaper's start.
    reaper_start: Mutex<()>,
    /// Threads that reaped events with notifications and have not delivered them all yet
    /// (incremented under `reap_lock`); a futex word for `aio_cancel`.
    delivering: AtomicU32,
}

static PROCESS: AtomicPtr<Process> = AtomicPtr::new(core::ptr::null_mut());
static ATFORK: Once = Once::new();

/// In a forked child: the parent's context, ring, eventfd and reaper are not ours. Close the
/// inherited descriptors (those still the library's: the program may have closed and reused
/// their numbers) and unmap the ring; the next call sets up a context of our own.
extern "C" fn atfork_child() {
    let p = PROCESS.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: `p` was leaked by `process()` and is never freed; these fields are
        // immutable after creation, so reading them needs no lock.
        let p = unsafe { &*p };
        own_fd::close_if_still(p.dev, p.dev_identity);
        own_fd::close_if_still(p.efd, p.efd_identity);
        // SAFETY: the parent's ring mapping, inherited, used by nobody in the child.
        unsafe { libc::munmap(p.ctx as *mut c_void, p.ring_len) };
    }
}

/// The process's state if it has one already (nothing was submitted otherwise).
pub fn existing() -> Option<&'static Process> {
    let p = PROCESS.load(Ordering::Acquire);
    // SAFETY: published by `process()`, never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The process's state, set up on first use. `Err(errno)`: `ENOSYS` without `/dev/kaio`,
/// `EAGAIN` when the module refuses a context (its `max_nr`) or no thread can be started.
pub fn process() -> Result<&'static Process, c_int> {
    let p = PROCESS.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: published by the compare-exchange below, never freed.
        return Ok(unsafe { &*p });
    }
    ATFORK.call_once(|| {
        // SAFETY: registering a handler that touches only this library's state.
        unsafe { libc::pthread_atfork(None, None, Some(atfork_child)) };
    });
    let new = Box::into_raw(Box::new(Process::create()?));
    match PROCESS.compare_exchange(
        core::ptr::null_mut(),
        new,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            // SAFETY: just published; leaked for the life of the process.
            Ok(unsafe { &*new })
        }
        Err(existing) => {
            // Another thread won the race: its context is the process's; drop ours.
            // SAFETY: `new` was never published.
            let mine = unsafe { Box::from_raw(new) };
            mine.close();
            // SAFETY: published by the winner, never freed.
            Ok(unsafe { &*existing })
        }
    }
}

impl Process {
    fn create() -> Result<Process, c_int> {
        // SAFETY: the path is a NUL-terminated literal.
        let dev = unsafe { libc::open(c"/dev/kaio".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if dev < 0 {
            return Err(libc::ENOSYS);
        }
        let mut ctx: u64 = 0;
        let mut polled_rw = true;
        let mut args = kaio_setup_args {
            nr_events: NR_EVENTS,
            flags: KAIO_SETUP_POLLED_RW,
            ctxp: &mut ctx as *mut u64 as u64,
        };
        let mut r = ioctl(dev, KAIO_IOC_SETUP, &mut args);
        if r == Err(libc::EINVAL) {
            // A version 1 module: reads and writes on pipes and sockets then block in submit
            // and cannot be cancelled (the README says so).
            polled_rw = false;
            args.flags = 0;
            r = ioctl(dev, KAIO_IOC_SETUP, &mut args);
        }
        if let Err(e) = r {
            // SAFETY: our descriptor.
            unsafe { libc::close(dev) };
            return Err(if e == libc::EAGAIN { e } else { libc::ENOSYS });
        }
        // SAFETY: a successful setup mapped the ring at `ctx`; its header is readable.
        let nr = unsafe { (*(ctx as *const AioRing)).nr } as usize;
        let ring_len = (core::mem::size_of::<AioRing>() + nr * core::mem::size_of::<IoEvent>())
            .next_multiple_of(4096);
        // SAFETY: plain system call.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            let e = errno();
            // SAFETY: our descriptor; closing it tears the context down.
            unsafe {
                libc::munmap(ctx as *mut c_void, ring_len);
                libc::close(dev);
            }
            return Err(e);
        }
        Ok(Process {
            dev,
            dev_identity: own_fd::device(dev),
            efd_identity: own_fd::eventfd(efd),
            ctx,
            ring_len,
            efd,
            polled_rw,
            // More requests than ring slots are never in flight and unreaped at once.
            reqs: Pool::new(nr),
            reap_lock: Mutex::new(()),
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            reaper_started: AtomicBool::new(false),
            reaper_start: Mutex::new(()),
            delivering: AtomicU32::new(0),
        })
    }

    fn close(&self) {
        // SAFETY: an unpublished process's own descriptors and mapping.
        unsafe {
            libc::munmap(self.ctx as *mut c_void, self.ring_len);
            libc::close(self.efd);
            libc::close(self.dev);
        }
    }

    /// Starts the reaper thread if it is not running yet: called before submitting a request
    /// with a notification (`SIGEV_SIGNAL`, `SIGEV_THREAD`, or a `LIO_NOWAIT` list's), which
    /// must be delivered even if nobody waits for it.
    pub fn ensure_reaper(&'static self) -> Result<(), c_int> {
        if self.reaper_started.load(Ordering::Acquire) {
            return Ok(());
        }
        let _g = self.reaper_start.lock().unwrap_or_else(|e| e.into_inner());
        if self.reaper_started.load(Ordering::Acquire) {
            return Ok(());
        }
        self.start_reaper()?;
        self.reaper_started.store(true, Ordering::Release);
        Ok(())
    }

    /// Starts the reaper with every signal blocked (it inherits the mask), so that the
    /// program's signals, and the completion signals this library queues, go to the
    /// program's own threads.
    fn start_reaper(&'static self) -> Result<(), c_int> {
        // SAFETY: full and saved masks are local; the caller's mask is restored below.
        unsafe {
            let mut all: libc::sigset_t = core::mem::zeroed();
            let mut old: libc::sigset_t = core::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            let r = std::thread::Builder::new()
                .name("kaio-posix".into())
                .stack_size(64 * 1024)
                .spawn(move || self.reaper());
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
            r.map(|_| ()).map_err(|_| libc::EAGAIN)
        }
    }

    /// The reaper: woken by the eventfd (only requests with a notification signal it), reaps
    /// whatever the ring holds. It never blocks holding `reap_lock`.
    fn reaper(&self) {
        loop {
            let mut count: u64 = 0;
            // SAFETY: reads 8 bytes into `count`.
            let r = unsafe { libc::read(self.efd, &mut count as *mut u64 as *mut c_void, 8) };
            if r < 0 && errno() != libc::EINTR && errno() != libc::EAGAIN {
                // The eventfd is gone (a program closed our descriptor): nothing can wake
                // us any more. Stop rather than spin.
                return;
            }
            self.reap();
        }
    }

    /// Reaps every event in the ring and delivers their notifications, waiting for the ring
    /// lock if another thread holds it (one blocked in `KAIO_IOC_GETEVENTS` returns as soon as
    /// an event is posted).
    pub fn reap(&self) {
        let mut out = Vec::new();
        let completed;
        {
            let _guard = self.reap_lock.lock().unwrap_or_else(|e| e.into_inner());
            completed = self.drain(&mut out);
            self.start_delivery(&out);
        }
        self.finish(completed, out, false);
    }

    /// Reaps the ring from user space if no other thread is reaping (no system call, no
    /// waiting: `aio_error`, `aio_return`, a submit short of slots). Whoever holds the lock
    /// stores what it reaps.
    pub fn try_reap(&self) -> usize {
        let mut out = Vec::new();
        let completed;
        {
            let Ok(_guard) = self.reap_lock.try_lock() else { return 0 };
            completed = self.drain(&mut out);
            self.start_delivery(&out);
        }
        self.finish(completed, out, false);
        completed
    }

    /// [`Process::try_reap`] for a signal handler (`aio_error`, `aio_return`): reaps only the
    /// completions that need nothing delivered, stopping at the first other one, and never
    /// waits. Async-signal-safe: a try-lock, atomic operations, the pool (no `malloc` or
    /// `free`), and a futex wake-up.
    pub fn try_reap_plain(&self) -> usize {
        let Ok(guard) = self.reap_lock.try_lock() else { return 0 };
        let completed = self.drain_plain();
        drop(guard);
        // Nothing to deliver: an empty `Vec` allocates nothing.
        self.finish(completed, Vec::new(), false);
        completed
    }

    /// Waits until `done()` (a predicate on aiocb status that reaping makes true) holds, at
    /// most until `deadline` (`CLOCK_MONOTONIC`). `Err(EAGAIN)` when the deadline passes,
    /// `Err(EINTR)` when a signal handler ran.
    ///
    /// The waiter reaps the ring itself: if it gets `reap_lock` it consumes the ring from user
    /// space, and if what it waits for is still not done it sleeps in `KAIO_IOC_GETEVENTS`
    /// (`min_nr` 1) holding the lock, so the kernel wakes it directly. Other waiters sleep on
    /// `seq`, which the lock holder bumps after every reap and when it leaves, so that one of
    /// them takes over.
    pub fn wait_until(&self, done: impl Fn() -> bool, deadline: Option<&timespec>) -> Result<(), c_int> {
        let mut buf = [IoEvent::default(); 64];
        loop {
            let seq = self.seq.load(Ordering::SeqCst);
            if done() {
                return Ok(());
            }
            let left = match deadline {
                None => None,
                Some(d) => remaining(d),
            };
            if deadline.is_some() && left.is_none() {
                self.try_reap();
                return if done() { Ok(()) } else { Err(libc::EAGAIN) };
            }
            if let Ok(guard) = self.reap_lock.try_lock() {
                let mut out = Vec::new();
                let mut completed = self.drain(&mut out);
                let mut r = Ok(0);
                // Another thread may have reaped what `done` waits for between the check
                // above and the lock (statuses are stored under the lock), or may still be
                // delivering it (a list's count drops with its delivery, after the lock):
                // then not into the kernel, where no event may come; wait on `seq`, which
                // that thread bumps once it has delivered. `delivering` first: seen 0, every
                // delivery of what was reaped before this lock is over, so `done` sees it.
                if completed == 0 && (self.delivering.load(Ordering::SeqCst) != 0 || done()) {
                    drop(guard);
                    if done() {
                        return Ok(());
                    }
                    self.wait_seq(seq, left.as_ref(), &done)?;
                    continue;
                }
                // Only with nothing reaped: what was reaped may be what `done` waits for,
                // and list counts drop only when the notifications are delivered, below.
                // Straight into the kernel: a read made ready meanwhile is retried there by
                // this thread (kaio's ready list), which is quicker than letting a worker run.
                if completed == 0 {
                    let ts = left.map(|l| KernelTimespec { tv_sec: l.tv_sec, tv_nsec: l.tv_nsec });
                    let mut args = kaio_getevents_args {
                        ctx_id: self.ctx,
                        min_nr: 1,
                        nr: buf.len() as i64,
                        events: buf.as_mut_ptr() as u64,
                        timeout: ts.as_ref().map_or(0, |t| t as *const KernelTimespec as u64),
                    };
                    r = ioctl(self.dev, KAIO_IOC_GETEVENTS, &mut args);
                    if let Ok(n) = r {
                        for &ev in &buf[..n as usize] {
                            self.complete(ev, &mut out);
                        }
                        completed += n as usize;
                        completed += self.drain(&mut out);
                    }
                }
                self.start_delivery(&out);
                drop(guard);
                // Always wake the other waiters: one of them may have to take over.
                self.finish(completed, out, true);
                match r {
                    Err(libc::EINTR) if !done() => return Err(libc::EINTR),
                    Err(e) if e != libc::EINTR => return Err(e),
                    _ => {}
                }
                continue;
            }
            self.wait_seq(seq, left.as_ref(), &done)?;
        }
    }

    /// Sleeps until `seq` moves from `seen` (another thread reaped, or left the ring to the
    /// waiters), at most `left`. `Err(EINTR)` when a signal handler ran and `done` still does
    /// not hold; else the caller looks again.
    fn wait_seq(&self, seen: u32, left: Option<&timespec>, done: &impl Fn() -> bool) -> Result<(), c_int> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let r = futex_wait(&self.seq, seen, left);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        match r {
            Err(libc::EINTR) if !done() => Err(libc::EINTR),
            _ => Ok(()),
        }
    }

    /// After `f` (a cancel ioctl, which posts the cancelled requests' events before it
    /// returns) succeeded: reaps them (whoever holds the ring lock has reaped them or will,
    /// and `reap` waits for it) and waits until their notifications have been delivered.
    pub fn reap_cancelled(&self) {
        self.reap();
        loop {
            let v = self.delivering.load(Ordering::SeqCst);
            if v == 0 {
                break;
            }
            let _ = futex_wait(&self.delivering, v, None);
        }
    }

    /// Called under `reap_lock`: notes that this thread has notifications to deliver.
    fn start_delivery(&self, out: &[Delivery]) {
        if !out.is_empty() {
            self.delivering.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Delivers the notifications, then wakes `aio_suspend` callers if anything completed (or
    /// always, with `wake`).
    fn finish(&self, completed: usize, out: Vec<Delivery>, wake: bool) {
        let delivered = !out.is_empty();
        for d in out {
            match d {
                Delivery::Notify(n) => n.deliver(),
                Delivery::ListDone(g) => g.put(),
            }
        }
        if delivered && self.delivering.fetch_sub(1, Ordering::SeqCst) == 1 {
            futex_wake(&self.delivering);
        }
        if completed == 0 && !wake {
            return;
        }
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 {
            futex_wake(&self.seq);
        }
    }

    /// Consumes `[head, tail)` of the ring; returns how many requests completed. Called with
    /// `reap_lock` held.
    fn drain(&self, out: &mut Vec<Delivery>) -> usize {
        self.drain_while(|ev| {
            self.complete(*ev, out);
            true
        })
    }

    /// [`Process::drain`] of the completions at the ring's head that need nothing delivered:
    /// stops at the first request with a notification or a list. Called with `reap_lock` held.
    fn drain_plain(&self) -> usize {
        self.drain_while(|ev| {
            // SAFETY: `obj` is a `Req` in the pool, not taken before its one event is.
            let req = unsafe { &*(ev.obj as *const Req) };
            // Exactly the requests with something to deliver carry RESFD (`prepare`).
            if req.iocb.aio_flags & IOCB_FLAG_RESFD != 0 {
                return false;
            }
            // SAFETY: as above; taken once, here.
            let Req { aiocb, group, .. } = unsafe { self.reqs.take(ev.obj as *mut Req) };
            store_result(aiocb, ev.res);
            // A list's requests carry RESFD: no `Arc` is dropped (and nothing freed) here.
            debug_assert!(group.is_none());
            core::mem::forget(group);
            true
        })
    }

    /// Consumes events from the ring's head as long as `consume` takes them (it returns false
    /// for one it leaves there, which ends the drain); returns how many it took. No allocation
    /// (signal handlers drain). Called with `reap_lock` held.
    fn drain_while(&self, mut consume: impl FnMut(&IoEvent) -> bool) -> usize {
        let mut completed = 0;
        let ring = self.ctx as *mut AioRing;
        // SAFETY: the ring stays mapped for the life of the process (only a forked child
        // unmaps it, and the child never uses this `Process`). `tail` is written by the
        // kernel after the event (acquire here); `head` only by us, under the lock (the
        // kernel's reader, `KAIO_IOC_GETEVENTS`, is only called with the lock held).
        unsafe {
            let nr = (*ring).nr;
            if nr == 0 {
                // A scribbled header: nothing to reap (and no division by zero).
                return 0;
            }
            let events = (ring as *mut u8).add(core::mem::size_of::<AioRing>()) as *const IoEvent;
            let head_p = AtomicU32::from_ptr(core::ptr::addr_of_mut!((*ring).head));
            let tail_p = AtomicU32::from_ptr(core::ptr::addr_of_mut!((*ring).tail));
            let mut head = head_p.load(Ordering::Relaxed);
            loop {
                let tail = tail_p.load(Ordering::Acquire);
                if head == tail {
                    break;
                }
                while head != tail {
                    // `head` and `tail` are below `nr` (the kernel's and ours); the modulo
                    // only if not (a division per event is slow where it is emulated).
                    let slot = if head < nr { head } else { head % nr };
                    let ev = core::ptr::read_volatile(events.add(slot as usize));
                    if !consume(&ev) {
                        return completed;
                    }
                    completed += 1;
                    head = if slot + 1 == nr { 0 } else { slot + 1 };
                    head_p.store(head, Ordering::Release);
                }
            }
        }
        completed
    }

    /// Records an event's result in its aiocb and queues its notifications.
    fn complete(&self, ev: IoEvent, out: &mut Vec<Delivery>) {
        // SAFETY: `obj` is the address of the `Req` put in the pool at submit (the iocb is its
        // first field); each request has exactly one event.
        let req = unsafe { self.reqs.take(ev.obj as *mut Req) };
        let ret = store_result(req.aiocb, ev.res);
        if req.notify.notifies() {
            out.push(Delivery::Notify(req.notify));
        }
        if let Some(g) = req.group {
            if ret < 0 {
                g.failed.store(true, Ordering::Relaxed);
            }
            out.push(Delivery::ListDone(g));
        }
    }

    /// Puts `req` in a slot: its address, the iocb to submit; `EAGAIN` when every slot holds a
    /// request in flight or a completion not yet reaped (the ring is as full), after reaping.
    pub fn new_req(&self, req: Req) -> Result<*mut Req, c_int> {
        match self.reqs.put(req) {
            Ok(r) => Ok(r),
            Err(req) => {
                self.try_reap();
                self.reqs.put(req).map_err(|_| libc::EAGAIN)
            }
        }
    }

    /// Frees the slot of a request that was not submitted.
    ///
    /// # Safety
    ///
    /// `req` came from [`Process::new_req`] and the kernel did not accept it.
    pub unsafe fn discard(&self, req: *mut Req) {
        // SAFETY: the caller's contract.
        drop(unsafe { self.reqs.take(req) });
    }

    /// `io_submit` of `iocbs`: the number accepted, or the error of the first refused.
    /// Completed but unreaped events hold their slots: short of slots, reap and try again.
    pub fn submit(&self, iocbs: &[*mut Iocb]) -> Result<usize, c_int> {
        let mut args = kaio_submit_args {
            ctx_id: self.ctx,
            nr: iocbs.len() as i64,
            iocbpp: iocbs.as_ptr() as u64,
        };
        match ioctl(self.dev, KAIO_IOC_SUBMIT, &mut args) {
            Err(libc::EAGAIN) if self.try_reap() > 0 => {
                ioctl(self.dev, KAIO_IOC_SUBMIT, &mut args).map(|n| n as usize)
            }
            r => r.map(|n| n as usize),
        }
    }

    /// `KAIO_IOC_CANCEL_MATCH` with `args` (its `ctx_id` filled in here).
    pub fn cancel_match(&self, args: &mut kaio_cancel_match_args) -> Result<c_long, c_int> {
        args.ctx_id = self.ctx;
        ioctl(self.dev, KAIO_IOC_CANCEL_MATCH, args)
    }
}

/// Stores an event's result in its aiocb (`aio_return`'s value, then, with release ordering,
/// `aio_error`'s); returns the former.
fn store_result(aiocb: *mut Aiocb, res: i64) -> isize {
    let (ret, err) = if res < 0 { (-1isize, (-res) as c_int) } else { (res as isize, 0) };
    // SAFETY: the program keeps the aiocb valid until the request completes (POSIX).
    unsafe {
        core::ptr::write_volatile(core::ptr::addr_of_mut!((*aiocb).return_value), ret);
        AtomicI32::from_ptr(core::ptr::addr_of_mut!((*aiocb).error_code)).store(err, Ordering::Release);
    }
    ret
}

fn now() -> timespec {
    let mut t = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes `t`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t
}

/// A deadline `t` from now (`CLOCK_MONOTONIC`).
/// Saturates: `{LONG_MAX, 0}`, a common "for ever", stays far in the future.
pub fn deadline_after(t: &timespec) -> timespec {
    let n = now();
    let mut d = timespec { tv_sec: n.tv_sec.saturating_add(t.tv_sec), tv_nsec: n.tv_nsec + t.tv_nsec };
    if d.tv_nsec >= 1_000_000_000 {
        d.tv_nsec -= 1_000_000_000;
        d.tv_sec = d.tv_sec.saturating_add(1);
    }
    d
}

/// The time left until `deadline`, `None` once it has passed.
fn remaining(deadline: &timespec) -> Option<timespec> {
    let n = now();
    let mut s = deadline.tv_sec - n.tv_sec;
    let mut ns = deadline.tv_nsec - n.tv_nsec;
    if ns < 0 {
        ns += 1_000_000_000;
        s -= 1;
    }
    if s < 0 {
        None
    } else {
        Some(timespec { tv_sec: s, tv_nsec: ns })
    }
}

/// `FUTEX_WAIT_PRIVATE` on `word` while it holds `val`, for at most `timeout` (relative, on
/// `CLOCK_MONOTONIC`). `Err(EINTR)` on a signal, `Err(ETIMEDOUT)`; other returns (woken,
/// value changed) are `Ok` and the caller re-checks.
pub fn futex_wait(word: &AtomicU32, val: u32, timeout: Option<&libc::timespec>) -> Result<(), c_int> {
    let t = timeout.map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live u32; `t` is null or a valid timespec.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            val,
            t,
        )
    };
    if r < 0 {
        match errno() {
            libc::EINTR => Err(libc::EINTR),
            libc::ETIMEDOUT => Err(libc::ETIMEDOUT),
            libc::EINVAL => Err(libc::EINVAL),
            _ => Ok(()),
        }
    } else {
        Ok(())
    }
}

/// Wakes every thread sleeping on `word`.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live u32.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        )
    };
}
