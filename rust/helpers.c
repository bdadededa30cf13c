// SPDX-License-Identifier: GPL-2.0
/*
 * Thin wrappers around static inline functions and macros that Rust cannot call directly,
 * in the manner of the kernel's rust/helpers/, and the module parameters (6.12's module!
 * macro has none). No logic lives here but kaio_get_iocb's user-access window, which only C
 * can open (unsafe_get_user is a macro of inline asm with a fault label).
 */
#include <linux/aio_abi.h>
#include <linux/fault-inject-usercopy.h>
#include <linux/moduleparam.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include "kaio_helpers.h"

/* The analogues of /proc/sys/fs/aio-max-nr and /proc/sys/fs/aio-nr (ABI.md). */
static unsigned long kaio_max_nr = 0x10000;
static unsigned long kaio_nr;
module_param_named(max_nr, kaio_max_nr, ulong, 0644);
MODULE_PARM_DESC(max_nr, "system-wide limit on the request slots of all contexts (aio-max-nr)");
module_param_named(nr, kaio_nr, ulong, 0444);
MODULE_PARM_DESC(nr, "request slots of all live contexts (aio-nr)");

/*
 * Statistics: per-CPU counters (cheap to bump), summed when read through the read-only
 * parameters /sys/module/kaio/parameters/stat_* (rust/sys/stats.rs). The order is
 * rust/sys/stats.rs's `Stat`.
 */
#define KAIO_NR_STATS 19
/* Not static: rust/sys/stats.rs adds to it on x86-64 as this_cpu_add does, without a call. */
DEFINE_PER_CPU(long [KAIO_NR_STATS], kaio_stats);

void kaio_stat_add(unsigned int i, long v) { this_cpu_add(kaio_stats[i], v); }
long kaio_stat_read(unsigned int i, int cpu) { return per_cpu(kaio_stats, cpu)[i]; }
int kaio_next_possible_cpu(int cpu) { return cpumask_next(cpu, cpu_possible_mask); }
unsigned int kaio_nr_cpu_ids(void) { return nr_cpu_ids; }

static const struct kernel_param_ops kaio_stat_ops = { .get = kaio_stat_get };
static const unsigned int kaio_stat_index[KAIO_NR_STATS] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18 };
module_param_cb(stat_contexts, &kaio_stat_ops, (void *)&kaio_stat_index[0], 0444);
MODULE_PARM_DESC(stat_contexts, "live contexts");
module_param_cb(stat_submitted, &kaio_stat_ops, (void *)&kaio_stat_index[1], 0444);
MODULE_PARM_DESC(stat_submitted, "requests accepted by submit");
module_param_cb(stat_events, &kaio_stat_ops, (void *)&kaio_stat_index[2], 0444);
MODULE_PARM_DESC(stat_events, "events posted (or copied out by KAIO_CANCEL_RESULT)");
module_param_cb(stat_cancelled, &kaio_stat_ops, (void *)&kaio_stat_index[3], 0444);
MODULE_PARM_DESC(stat_cancelled, "requests cancelled by a cancel ioctl");
module_param_cb(stat_cancel_running, &kaio_stat_ops, (void *)&kaio_stat_index[4], 0444);
MODULE_PARM_DESC(stat_cancel_running, "requests a cancel ioctl found running");
module_param_cb(stat_cancel_missed, &kaio_stat_ops, (void *)&kaio_stat_index[5], 0444);
MODULE_PARM_DESC(stat_cancel_missed, "cancel ioctls that found no request");
module_param_cb(stat_swept, &kaio_stat_ops, (void *)&kaio_stat_index[6], 0444);
MODULE_PARM_DESC(stat_swept, "requests reached by a teardown sweep");
module_param_cb(stat_in_flight_pread, &kaio_stat_ops, (void *)&kaio_stat_index[7], 0444);
MODULE_PARM_DESC(stat_in_flight_pread, "requests in flight, PREAD");
module_param_cb(stat_in_flight_pwrite, &kaio_stat_ops, (void *)&kaio_stat_index[8], 0444);
MODULE_PARM_DESC(stat_in_flight_pwrite, "requests in flight, PWRITE");
module_param_cb(stat_in_flight_fsync, &kaio_stat_ops, (void *)&kaio_stat_index[9], 0444);
MODULE_PARM_DESC(stat_in_flight_fsync, "requests in flight, FSYNC");
module_param_cb(stat_in_flight_fdsync, &kaio_stat_ops, (void *)&kaio_stat_index[10], 0444);
MODULE_PARM_DESC(stat_in_flight_fdsync, "requests in flight, FDSYNC");
module_param_cb(stat_in_flight_poll, &kaio_stat_ops, (void *)&kaio_stat_index[11], 0444);
MODULE_PARM_DESC(stat_in_flight_poll, "requests in flight, POLL");
module_param_cb(stat_in_flight_preadv, &kaio_stat_ops, (void *)&kaio_stat_index[12], 0444);
MODULE_PARM_DESC(stat_in_flight_preadv, "requests in flight, PREADV");
module_param_cb(stat_in_flight_pwritev, &kaio_stat_ops, (void *)&kaio_stat_index[13], 0444);
MODULE_PARM_DESC(stat_in_flight_pwritev, "requests in flight, PWRITEV");
module_param_cb(stat_in_flight_delay, &kaio_stat_ops, (void *)&kaio_stat_index[14], 0444);
MODULE_PARM_DESC(stat_in_flight_delay, "requests in flight, DELAY");
module_param_cb(stat_teardowns, &kaio_stat_ops, (void *)&kaio_stat_index[15], 0444);
MODULE_PARM_DESC(stat_teardowns, "contexts torn down (destroy, close, exit)");
module_param_cb(stat_polled_retries_worker, &kaio_stat_ops, (void *)&kaio_stat_index[16], 0444);
MODULE_PARM_DESC(stat_polled_retries_worker, "polled read/write attempts made by the worker");
module_param_cb(stat_polled_retries_reaper, &kaio_stat_ops, (void *)&kaio_stat_index[17], 0444);
MODULE_PARM_DESC(stat_polled_retries_reaper, "polled read/write attempts made by a task in getevents");
module_param_cb(stat_polled_retries_task, &kaio_stat_ops, (void *)&kaio_stat_index[18], 0444);
MODULE_PARM_DESC(stat_polled_retries_task, "polled read/write attempts made by the task that readied them, on its way back to user space");

/* 0 skips the calls into the tracepoints altogether (to measure what a disabled one costs). */
bool kaio_trace_calls = true;
module_param_named(trace_calls, kaio_trace_calls, bool, 0644);
MODULE_PARM_DESC(trace_calls, "call the kaio tracepoints (1, the default) or skip them (0)");

/*
 * Tests only: microseconds io_submit waits (busy) while it arms a polled read or write on its
 * file, after the first entry's registration and again before parking and listing it
 * (rust/sys/system.rs race_delay), to widen those race windows.
 */
unsigned int kaio_race_delay_us;
module_param_named(race_delay_us, kaio_race_delay_us, uint, 0644);
MODULE_PARM_DESC(race_delay_us, "tests only: busy waits in io_submit while it arms a polled read/write (after the first entry, before parking), in us (0: none)");

/*
 * Tests only: microseconds a POLL's wake-up or worker, a DELAY's expiry and a cancel wait
 * (busy) between deciding a request's outcome and posting its event, and a RESULT cancel
 * before its copy to the caller (rust/sys/system.rs completion_delay), to widen the windows
 * a concurrent cancel must not fall into.
 */
unsigned int kaio_completion_delay_us;
module_param_named(completion_delay_us, kaio_completion_delay_us, uint, 0644);
MODULE_PARM_DESC(completion_delay_us, "tests only: busy waits between a POLL/DELAY/cancelled request's outcome and its event (or a RESULT cancel's copy), in us (0: none, at most 5000)");

/*
 * Tests only: microseconds io_submit waits (busy) before arming a polled read or write again
 * after an attempt would block although the last arming found the file ready (rust/sys/
 * system.rs rearm_delay), to widen the window a socket error must not be lost in.
 */
unsigned int kaio_rearm_delay_us;
module_param_named(rearm_delay_us, kaio_rearm_delay_us, uint, 0644);
MODULE_PARM_DESC(rearm_delay_us, "tests only: busy waits in io_submit before re-arming a polled read/write whose attempt would block after an arming found it ready, in us (0: none, at most 20000)");

/*
 * Tests only: a polled blocking attempt treats its kernel buffer as refused (rust/ops/
 * polled_rw.rs blocking_attempt), as FUSE and ALSA refuse one, so that the guests, which have
 * neither, run its user-buffer fallback.
 */
unsigned int kaio_refuse_kernel_buffer;
module_param_named(refuse_kernel_buffer, kaio_refuse_kernel_buffer, uint, 0644);
MODULE_PARM_DESC(refuse_kernel_buffer, "tests only: polled blocking attempts take the user-buffer path of files that refuse a kernel buffer (0: no)");

unsigned long *kaio_param_max_nr(void) { return &kaio_max_nr; }
unsigned long *kaio_param_nr(void) { return &kaio_nr; }

void kaio_rcu_read_lock(void) { rcu_read_lock(); }
void kaio_rcu_read_unlock(void) { rcu_read_unlock(); }

void kaio_percpu_ref_get(struct percpu_ref *ref) { percpu_ref_get(ref); }
void kaio_percpu_ref_put(struct percpu_ref *ref) { percpu_ref_put(ref); }
bool kaio_percpu_ref_tryget_live(struct percpu_ref *ref) { return percpu_ref_tryget_live(ref); }
void kaio_percpu_ref_kill(struct percpu_ref *ref) { percpu_ref_kill(ref); }

void kaio_init_completion(struct completion *c) { init_completion(c); }

void kaio_eventfd_signal(struct eventfd_ctx *ctx) { eventfd_signal(ctx); }

int kaio_kiocb_set_rw_flags(struct kiocb *ki, int flags, int rw_type)
{
	return kiocb_set_rw_flags(ki, (__force rwf_t)flags, rw_type);
}

void kaio_kiocb_start_write(struct kiocb *ki) { kiocb_start_write(ki); }
void kaio_kiocb_end_write(struct kiocb *ki) { kiocb_end_write(ki); }
int kaio_get_current_ioprio(void) { return get_current_ioprio(); }
int kaio_ioprio_check_cap(int ioprio) { return ioprio_check_cap(ioprio); }

struct mm_struct *kaio_current_mm(void) { return current->mm; }

int kaio_get_user_u32(u32 *dst, const u32 __user *src) { return get_user(*dst, src); }
int kaio_get_user_u64(u64 *dst, const u64 __user *src) { return get_user(*dst, src); }
int kaio_put_user_u32(u32 val, u32 __user *dst) { return put_user(val, dst); }
int kaio_put_user_u64(u64 val, u64 __user *dst) { return put_user(val, dst); }

/*
 * io_submit's reads of one iocb (its address in the array, then the iocb) in one user-access
 * window, word by word: copy_from_user moves 64 bytes with a string instruction, a byte loop
 * where it is emulated (QEMU TCG), and opens a window of its own. The iocb read stays a
 * fail_usercopy site, as Linux's copy_from_user of it is. 0: both read; 1: the address only;
 * -EFAULT: neither.
 */
int kaio_get_iocb(const u64 __user *slot, u64 *addr, u64 *iocb)
{
	const u64 __user *src;
	bool fail = should_fail_usercopy();
	unsigned int i;

	BUILD_BUG_ON(sizeof(struct iocb) != KAIO_IOCB_WORDS * sizeof(u64));
	if (!user_access_begin(slot, sizeof(*slot)))
		return -EFAULT;
	unsafe_get_user(*addr, slot, no_addr);
	src = (const u64 __user *)(unsigned long)*addr;
	if (fail || !access_ok(src, sizeof(struct iocb)))
		goto no_iocb;
	/* As copy_from_user after its access_ok: no load speculated past a failed check. */
	barrier_nospec();
	for (i = 0; i < KAIO_IOCB_WORDS; i++)
		unsafe_get_user(iocb[i], &src[i], no_iocb);
	user_access_end();
	return 0;
no_iocb:
	user_access_end();
	return 1;
no_addr:
	user_access_end();
	return -EFAULT;
}
pid_t kaio_current_tgid(void) { return task_tgid_nr(current); }

struct mm_struct *kaio_mmgrab_current(void)
{
	struct mm_struct *mm = current->mm;

	if (mm)
		mmgrab(mm);
	return mm;
}

void kaio_mmdrop(struct mm_struct *mm) { mmdrop(mm); }
bool kaio_mmget_not_zero(struct mm_struct *mm) { return mmget_not_zero(mm); }
unsigned int kaio_num_possible_cpus(void) { return num_possible_cpus(); }
void kaio_warn_on(bool cond) { WARN_ON(cond); }
void kaio_udelay(unsigned long us) { udelay(us); }
void kaio_might_sleep(void) { might_sleep(); }
struct task_struct *kaio_current_task(void) { return current; }
bool kaio_test_and_set_notify_signal(struct task_struct *task)
{
	return test_and_set_tsk_thread_flag(task, TIF_NOTIFY_SIGNAL);
}
void kaio_clear_notify_signal(void) { clear_notify_signal(); }
bool kaio_in_interrupt_or_irqs_off(void) { return in_interrupt() || irqs_disabled(); }

void kaio_vm_flags_clear(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_clear(vma, flags);
}

struct workqueue_struct *kaio_alloc_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_UNBOUND, 0, name);
}

void kaio_init_work(struct work_struct *work, work_func_t func) { INIT_WORK(work, func); }

bool kaio_queue_work(struct workqueue_struct *wq, struct work_struct *work)
{
	return queue_work(wq, work);
}

void kaio_init_delayed_work(struct delayed_work *dwork, work_func_t func)
{
	INIT_DELAYED_WORK(dwork, func);
}

bool kaio_queue_delayed_work(struct workqueue_struct *wq, struct delayed_work *dwork,
			     unsigned long delay)
{
	return queue_delayed_work(wq, dwork, delay);
}

bool kaio_current_is_user_task_of(struct mm_struct *mm)
{
	return in_task() && !(current->flags & PF_KTHREAD) && current->mm == mm;
}

void kaio_init_task_work(struct callback_head *head, task_work_func_t func)
{
	init_task_work(head, func);
}

int kaio_task_work_add_current(struct callback_head *head)
{
	return task_work_add(current, head, TWA_RESUME);
}

bool kaio_module_get(void) { return try_module_get(THIS_MODULE); }
void kaio_module_put(void) { module_put(THIS_MODULE); }
/* synchronize_rcu() itself where the kernel has no Tasks RCU (task_work.rs queues nothing on a
 * preemptible kernel without it). */
void kaio_synchronize_rcu_tasks(void) { synchronize_rcu_tasks(); }

void kaio_put_cred(const struct cred *cred) { put_cred(cred); }
const struct cred *kaio_get_current_cred(void) { return get_current_cred(); }
const struct cred *kaio_current_cred(void) { return current_cred(); }

unsigned long kaio_local_irq_save(void)
{
	unsigned long flags;

	local_irq_save(flags);
	return flags;
}

void kaio_local_irq_restore(unsigned long flags) { local_irq_restore(flags); }

bool kaio_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags)
{
	return spin_trylock_irqsave(lock, *flags);
}

/* spin_unlock() is inline in the release kernel (no _raw_spin_unlock to call). */
void kaio_spin_unlock(spinlock_t *lock) { spin_unlock(lock); }

bool kaio_list_empty(const struct list_head *head) { return list_empty(head); }
void kaio_list_del_init(struct list_head *entry) { list_del_init(entry); }


__poll_t kaio_vfs_poll(struct file *file, struct poll_table_struct *pt)
{
	return vfs_poll(file, pt);
}

bool kaio_socket_error_pending(struct file *file)
{
#ifdef CONFIG_NET
	struct socket *sock = sock_from_file(file);

	return sock && sock->sk && READ_ONCE(sock->sk->sk_err);
#else
	return false;
#endif
}

void kaio_vm_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_set(vma, flags);
}

void *kaio_page_address(struct page *page) { return page_address(page); }

void kaio_save_sigmask(void) { current->saved_sigmask = current->blocked; }
void kaio_set_restore_sigmask(void) { set_restore_sigmask(); }
bool kaio_test_and_clear_restore_sigmask(void) { return test_and_clear_restore_sigmask(); }
sigset_t *kaio_saved_sigmask(void) { return &current->saved_sigmask; }

u64 kaio_ktime_get_ns(void) { return ktime_get_ns(); }

/* debugfs files whose contents Rust writes (rust/sys/debugfs.rs). */
static int kaio_show_file_show(struct seq_file *m, void *v)
{
	return kaio_debugfs_show(m, m->private);
}
DEFINE_SHOW_ATTRIBUTE(kaio_show_file);

struct dentry *kaio_debugfs_create_show_file(const char *name, struct dentry *parent, void *data)
{
	return debugfs_create_file(name, 0444, parent, data, &kaio_show_file_fops);
}
