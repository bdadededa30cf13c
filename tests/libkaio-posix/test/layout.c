// SPDX-License-Identifier: GPL-2.0
/* The layouts and constants src/abi.rs assumes, checked against the system's <aio.h>. */
#define _GNU_SOURCE
#include <aio.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#define SAME(a, b) _Static_assert((a) == (b), #a " != " #b)
SAME(sizeof(struct aiocb), 168);
SAME(sizeof(struct aiocb64), sizeof(struct aiocb));
SAME(offsetof(struct aiocb, aio_fildes), 0);
SAME(offsetof(struct aiocb, aio_lio_opcode), 4);
SAME(offsetof(struct aiocb, aio_reqprio), 8);
SAME(offsetof(struct aiocb, aio_buf), 16);
SAME(offsetof(struct aiocb, aio_nbytes), 24);
SAME(offsetof(struct aiocb, aio_sigevent), 32);
SAME(offsetof(struct aiocb, __next_prio), 96);
SAME(offsetof(struct aiocb, __error_code), 112);
SAME(offsetof(struct aiocb, __return_value), 120);
SAME(offsetof(struct aiocb, aio_offset), 128);
SAME(offsetof(struct aiocb64, aio_offset), 128);
SAME(sizeof(struct sigevent), 64);
SAME(offsetof(struct sigevent, sigev_value), 0);
SAME(offsetof(struct sigevent, sigev_signo), 8);
SAME(offsetof(struct sigevent, sigev_notify), 12);
SAME(offsetof(struct sigevent, sigev_notify_function), 16);
SAME(offsetof(struct sigevent, sigev_notify_attributes), 24);
SAME(LIO_READ, 0);
SAME(LIO_WRITE, 1);
SAME(LIO_NOP, 2);
SAME(LIO_WAIT, 0);
SAME(LIO_NOWAIT, 1);
SAME(AIO_CANCELED, 0);
SAME(AIO_NOTCANCELED, 1);
SAME(AIO_ALLDONE, 2);
SAME(SIGEV_SIGNAL, 0);
SAME(SIGEV_NONE, 1);
SAME(SIGEV_THREAD, 2);
SAME(SI_ASYNCIO, -4);

int main(void)
{
	printf("ok layout: struct aiocb, struct sigevent and the <aio.h> constants agree\n");
	return 0;
}
