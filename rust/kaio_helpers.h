/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side kaio.ko needs beyond kernel::bindings: the declarations bindgen turns into
 * rust/sys/bindings_generated.rs (see the allowlist in Kbuild), and the prototypes of the
 * thin wrappers in helpers.c around static inline functions and macros.
 */
#ifndef KAIO_HELPERS_H
#define KAIO_HELPERS_H

#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/delay.h>
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/ioprio.h>
#include <linux/uio.h>
#include <linux/uaccess.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/mmu_notifier.h>
#include <linux/net.h>
#include <net/sock.h>
#include <linux/mm.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/mman.h>
#include <linux/percpu-refcount.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

/* Module parameters (defined in helpers.c so that they appear under /sys/module/kaio). */
unsigned long *kaio_param_max_nr(void);
unsigned long *kaio_param_nr(void);
/* Read from Rust directly: a call per tracepoint site would cost more than the check. */
extern bool kaio_trace_calls;
extern unsigned int kaio_race_delay_us;
extern unsigned int kaio_completion_delay_us;
extern unsigned int kaio_rearm_delay_us;
extern unsigned int kaio_refuse_kernel_buffer;

/* Statistics (rust/sys/stats.rs); kaio_stat_get is defined in Rust. */
void kaio_stat_add(unsigned int i, long v);
long kaio_stat_read(unsigned int i, int cpu);
int kaio_next_possible_cpu(int cpu);
unsigned int kaio_nr_cpu_ids(void);
struct kernel_param;
int kaio_stat_get(char *buffer, const struct kernel_param *kp);

/* debugfs (rust/sys/debugfs.rs); kaio_debugfs_show is defined in Rust. */
struct seq_file;
struct dentry;
int kaio_debugfs_show(struct seq_file *m, void *data);
struct dentry *kaio_debugfs_create_show_file(const char *name, struct dentry *parent, void *data);

void kaio_rcu_read_lock(void);
void kaio_rcu_read_unlock(void);

void kaio_percpu_ref_get(struct percpu_ref *ref);
void kaio_percpu_ref_put(struct percpu_ref *ref);
bool kaio_percpu_ref_tryget_live(struct percpu_ref *ref);
void kaio_percpu_ref_kill(struct percpu_ref *ref);

unsigned long kaio_local_irq_save(void);
void kaio_local_irq_restore(unsigned long flags);
bool kaio_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags);
void kaio_spin_unlock(spinlock_t *lock);

bool kaio_list_empty(const struct list_head *head);
void kaio_list_del_init(struct list_head *entry);
__poll_t kaio_vfs_poll(struct file *file, struct poll_table_struct *pt);
/* Whether `file` is a socket with an error pending (`sk_err`: not its error queue). */
bool kaio_socket_error_pending(struct file *file);

void kaio_init_completion(struct completion *c);

void kaio_eventfd_signal(struct eventfd_ctx *ctx);

int kaio_kiocb_set_rw_flags(struct kiocb *ki, int flags, int rw_type);
void kaio_kiocb_start_write(struct kiocb *ki);
void kaio_kiocb_end_write(struct kiocb *ki);
int kaio_get_current_ioprio(void);
int kaio_ioprio_check_cap(int ioprio);

struct workqueue_struct *kaio_alloc_workqueue(const char *name);
void kaio_init_work(struct work_struct *work, work_func_t func);
bool kaio_queue_work(struct workqueue_struct *wq, struct work_struct *work);
void kaio_init_delayed_work(struct delayed_work *dwork, work_func_t func);
bool kaio_queue_delayed_work(struct workqueue_struct *wq, struct delayed_work *dwork,
			     unsigned long delay);
bool kaio_current_is_user_task_of(struct mm_struct *mm);
void kaio_init_task_work(struct callback_head *head, task_work_func_t func);
int kaio_task_work_add_current(struct callback_head *head);
bool kaio_module_get(void);
void kaio_module_put(void);
void kaio_synchronize_rcu_tasks(void);
void kaio_put_cred(const struct cred *cred);
const struct cred *kaio_get_current_cred(void);
const struct cred *kaio_current_cred(void);

struct mm_struct *kaio_current_mm(void);
int kaio_get_user_u32(u32 *dst, const u32 __user *src);
int kaio_get_user_u64(u64 *dst, const u64 __user *src);
int kaio_put_user_u32(u32 val, u32 __user *dst);
int kaio_put_user_u64(u64 val, u64 __user *dst);
#define KAIO_IOCB_WORDS 8
int kaio_get_iocb(const u64 __user *slot, u64 *addr, u64 *iocb);
pid_t kaio_current_tgid(void);
struct mm_struct *kaio_mmgrab_current(void);
void kaio_mmdrop(struct mm_struct *mm);
bool kaio_mmget_not_zero(struct mm_struct *mm);
unsigned int kaio_num_possible_cpus(void);
void kaio_warn_on(bool cond);
void kaio_udelay(unsigned long us);
void kaio_might_sleep(void);
bool kaio_in_interrupt_or_irqs_off(void);
void kaio_vm_flags_clear(struct vm_area_struct *vma, unsigned long flags);
void kaio_vm_flags_set(struct vm_area_struct *vma, unsigned long flags);
void *kaio_page_address(struct page *page);

struct task_struct *kaio_current_task(void);
bool kaio_test_and_set_notify_signal(struct task_struct *task);
void kaio_clear_notify_signal(void);

void kaio_save_sigmask(void);
void kaio_set_restore_sigmask(void);
bool kaio_test_and_clear_restore_sigmask(void);
sigset_t *kaio_saved_sigmask(void);

/* Tracepoints (rust/trace/trace.c); the hot ones' static keys are read from Rust first. */
extern struct tracepoint __tracepoint_kaio_submit;
extern struct tracepoint __tracepoint_kaio_complete;
extern struct tracepoint __tracepoint_kaio_cancel;
void kaio_trace_setup(u64 ctx_id, u32 nr_events, u64 ring_size);
void kaio_trace_destroy(u64 ctx_id, u64 in_flight);
void kaio_trace_submit(u64 ctx_id, u64 iocb, u64 data, u16 opcode, s32 fd, s64 result);
void kaio_trace_complete(u64 ctx_id, u64 iocb, u64 data, s64 res, s64 res2, u8 how);
void kaio_trace_cancel(u64 ctx_id, u64 iocb, u64 result, u32 flags, s64 ret, u32 matched,
		       u32 cancelled, u32 running);
bool kaio_trace_getevents_enabled(void);
void kaio_trace_getevents(u64 ctx_id, s64 min_nr, s64 nr, s64 returned, u64 waited_ns);
u64 kaio_ktime_get_ns(void);

#endif /* KAIO_HELPERS_H */
