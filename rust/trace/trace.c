// SPDX-License-Identifier: GPL-2.0
/*
 * The one object that creates kaio's tracepoints, and thin wrappers that Rust calls (the
 * trace_*() functions are static inlines). Each wrapper is a call plus the tracepoint's static
 * branch, patched out while the event is disabled.
 */
#define CREATE_TRACE_POINTS
#include "kaio_trace.h"
#include "../kaio_helpers.h"

void kaio_trace_setup(u64 ctx_id, u32 nr_events, u64 ring_size)
{
	trace_kaio_setup(ctx_id, nr_events, ring_size);
}

void kaio_trace_destroy(u64 ctx_id, u64 in_flight)
{
	trace_kaio_destroy(ctx_id, in_flight);
}

void kaio_trace_submit(u64 ctx_id, u64 iocb, u64 data, u16 opcode, s32 fd, s64 result)
{
	trace_kaio_submit(ctx_id, iocb, data, opcode, fd, result);
}

void kaio_trace_complete(u64 ctx_id, u64 iocb, u64 data, s64 res, s64 res2, u8 how)
{
	trace_kaio_complete(ctx_id, iocb, data, res, res2, how);
}

void kaio_trace_cancel(u64 ctx_id, u64 iocb, u64 result, u32 flags, s64 ret, u32 matched,
		       u32 cancelled, u32 running)
{
	trace_kaio_cancel(ctx_id, iocb, result, flags, ret, matched, cancelled, running);
}

bool kaio_trace_getevents_enabled(void)
{
	return trace_kaio_getevents_enabled();
}

void kaio_trace_getevents(u64 ctx_id, s64 min_nr, s64 nr, s64 returned, u64 waited_ns)
{
	trace_kaio_getevents(ctx_id, min_nr, nr, returned, waited_ns);
}
