/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kaio's tracepoints, under /sys/kernel/tracing/events/kaio/: every step of a context's and a
 * request's life. Field names follow the io_cancel(2) event of tracing tools where they
 * overlap (ctx_id, iocb, result). Emitted from Rust through rust/sys/trace.rs.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kaio

#if !defined(KAIO_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KAIO_TRACE_H

#include <linux/tracepoint.h>

/* How a request's event came to be posted (kaio_complete's `how`). */
#define KAIO_COMPLETE_NORMAL	0
#define KAIO_COMPLETE_CANCELLED	1
#define KAIO_COMPLETE_TEARDOWN	2

TRACE_EVENT(kaio_setup,
	TP_PROTO(u64 ctx_id, u32 nr_events, u64 ring_size),
	TP_ARGS(ctx_id, nr_events, ring_size),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u32, nr_events)
		__field(u64, ring_size)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->nr_events = nr_events;
		__entry->ring_size = ring_size;
	),
	TP_printk("ctx_id=0x%llx nr_events=%u ring_size=%llu",
		  __entry->ctx_id, __entry->nr_events, __entry->ring_size)
);

TRACE_EVENT(kaio_destroy,
	TP_PROTO(u64 ctx_id, u64 in_flight),
	TP_ARGS(ctx_id, in_flight),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, in_flight)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->in_flight = in_flight;
	),
	TP_printk("ctx_id=0x%llx in_flight=%llu", __entry->ctx_id, __entry->in_flight)
);

TRACE_EVENT(kaio_submit,
	TP_PROTO(u64 ctx_id, u64 iocb, u64 data, u16 opcode, s32 fd, s64 result),
	TP_ARGS(ctx_id, iocb, data, opcode, fd, result),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, iocb)
		__field(u64, data)
		__field(u16, opcode)
		__field(s32, fd)
		__field(s64, result)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->iocb = iocb;
		__entry->data = data;
		__entry->opcode = opcode;
		__entry->fd = fd;
		__entry->result = result;
	),
	TP_printk("ctx_id=0x%llx iocb=0x%llx data=0x%llx opcode=%u fd=%d result=%lld",
		  __entry->ctx_id, __entry->iocb, __entry->data, __entry->opcode,
		  __entry->fd, __entry->result)
);

TRACE_EVENT(kaio_complete,
	TP_PROTO(u64 ctx_id, u64 iocb, u64 data, s64 res, s64 res2, u8 how),
	TP_ARGS(ctx_id, iocb, data, res, res2, how),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, iocb)
		__field(u64, data)
		__field(s64, res)
		__field(s64, res2)
		__field(u8, how)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->iocb = iocb;
		__entry->data = data;
		__entry->res = res;
		__entry->res2 = res2;
		__entry->how = how;
	),
	TP_printk("ctx_id=0x%llx iocb=0x%llx data=0x%llx res=%lld res2=%lld how=%s",
		  __entry->ctx_id, __entry->iocb, __entry->data, __entry->res, __entry->res2,
		  __print_symbolic(__entry->how,
				   { KAIO_COMPLETE_NORMAL, "normal" },
				   { KAIO_COMPLETE_CANCELLED, "cancelled" },
				   { KAIO_COMPLETE_TEARDOWN, "teardown" }))
);

TRACE_EVENT(kaio_cancel,
	TP_PROTO(u64 ctx_id, u64 iocb, u64 result, u32 flags, s64 ret, u32 matched,
		 u32 cancelled, u32 running),
	TP_ARGS(ctx_id, iocb, result, flags, ret, matched, cancelled, running),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(u64, iocb)
		__field(u64, result)
		__field(u32, flags)
		__field(s64, ret)
		__field(u32, matched)
		__field(u32, cancelled)
		__field(u32, running)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->iocb = iocb;
		__entry->result = result;
		__entry->flags = flags;
		__entry->ret = ret;
		__entry->matched = matched;
		__entry->cancelled = cancelled;
		__entry->running = running;
	),
	TP_printk("ctx_id=0x%llx iocb=0x%llx result=0x%llx flags=0x%x ret=%lld matched=%u cancelled=%u running=%u",
		  __entry->ctx_id, __entry->iocb, __entry->result, __entry->flags, __entry->ret,
		  __entry->matched, __entry->cancelled, __entry->running)
);

TRACE_EVENT(kaio_getevents,
	TP_PROTO(u64 ctx_id, s64 min_nr, s64 nr, s64 returned, u64 waited_ns),
	TP_ARGS(ctx_id, min_nr, nr, returned, waited_ns),
	TP_STRUCT__entry(
		__field(u64, ctx_id)
		__field(s64, min_nr)
		__field(s64, nr)
		__field(s64, returned)
		__field(u64, waited_ns)
	),
	TP_fast_assign(
		__entry->ctx_id = ctx_id;
		__entry->min_nr = min_nr;
		__entry->nr = nr;
		__entry->returned = returned;
		__entry->waited_ns = waited_ns;
	),
	TP_printk("ctx_id=0x%llx min_nr=%lld nr=%lld returned=%lld waited_ns=%llu",
		  __entry->ctx_id, __entry->min_nr, __entry->nr, __entry->returned,
		  __entry->waited_ns)
);

#endif /* KAIO_TRACE_H */

/* The out-of-tree module's header lives beside trace.c. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kaio_trace
#include <trace/define_trace.h>
