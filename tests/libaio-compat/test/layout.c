// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Prints the layout of everything <libaio.h> defines: built once with include/libaio.h and
 * once with the system's, the two outputs must be identical (make check).
 */
#include <stddef.h>
#include <stdio.h>
#include <libaio.h>

#define SIZE(t) printf("sizeof(%s) %zu\n", #t, sizeof(t))
#define OFF(t, m) printf("offsetof(%s, %s) %zu size %zu\n", #t, #m, offsetof(t, m), sizeof(((t *)0)->m))
#define VAL(v) printf("%s %ld\n", #v, (long)(v))

static struct iocb cb;

int main(void)
{
	SIZE(io_context_t);
	SIZE(struct iocb);
	OFF(struct iocb, data);
	OFF(struct iocb, key);
	OFF(struct iocb, aio_rw_flags);
	OFF(struct iocb, aio_lio_opcode);
	OFF(struct iocb, aio_reqprio);
	OFF(struct iocb, aio_fildes);
	OFF(struct iocb, u);
	OFF(struct iocb, u.c.buf);
	OFF(struct iocb, u.c.nbytes);
	OFF(struct iocb, u.c.offset);
	OFF(struct iocb, u.c.__pad3);
	OFF(struct iocb, u.c.flags);
	OFF(struct iocb, u.c.resfd);
	OFF(struct iocb, u.v.vec);
	OFF(struct iocb, u.v.nr);
	OFF(struct iocb, u.v.offset);
	OFF(struct iocb, u.poll.events);
	OFF(struct iocb, u.poll.__pad1);
	OFF(struct iocb, u.saddr.addr);
	OFF(struct iocb, u.saddr.len);
	SIZE(struct io_event);
	OFF(struct io_event, data);
	OFF(struct io_event, obj);
	OFF(struct io_event, res);
	OFF(struct io_event, res2);
	SIZE(struct io_sigset);
	OFF(struct io_sigset, ss);
	OFF(struct io_sigset, ss_len);
	SIZE(struct io_sigset_compat);
	OFF(struct io_sigset_compat, ss);
	OFF(struct io_sigset_compat, ss_len);
	SIZE(io_iocb_cmd_t);
	VAL(IO_CMD_PREAD);
	VAL(IO_CMD_PWRITE);
	VAL(IO_CMD_FSYNC);
	VAL(IO_CMD_FDSYNC);
	VAL(IO_CMD_POLL);
	VAL(IO_CMD_NOOP);
	VAL(IO_CMD_PREADV);
	VAL(IO_CMD_PWRITEV);
	/* Signedness of the members user code does arithmetic on. */
	VAL((struct io_event){ .res = -1 }.res > 0);
	VAL((cb.aio_lio_opcode = -1) < 0);
	VAL((cb.aio_fildes = -1) < 0);
	VAL((cb.u.c.offset = -1) < 0);
	VAL((cb.key = -1) > 0);
	/* What the inline helpers store. */
	io_prep_pwritev2(&cb, 3, (void *)16, 2, 4096, 5);
	VAL(cb.aio_fildes + 10 * cb.aio_lio_opcode + 100 * cb.aio_rw_flags);
	VAL((long)cb.u.c.buf + (long)cb.u.c.nbytes + cb.u.c.offset);
	io_set_eventfd(&cb, 9);
	VAL(cb.u.c.flags * 100 + cb.u.c.resfd);
	io_prep_poll(&cb, 4, 0x41);
	VAL(cb.u.poll.events + 1000 * cb.aio_lio_opcode + 100000L * (long)cb.u.c.nbytes);
	io_set_callback(&cb, (io_callback_t)32);
	VAL((long)cb.data);
	return 0;
}
