/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fake /dev/kaio for host tests of the library: the test program defines open() and ioctl(),
 * which take precedence over the C library's for every caller in the process (the library
 * included). Opening "/dev/kaio" returns a new open file of one memfd (the fake device node);
 * ioctls on that file are answered here by a small model of the kaio ioctls: contexts with a
 * real ring in anonymous memory, KAIO_CMD_DELAY requests that complete when io_getevents
 * needs them ("time passes") or at once when their delay is 0, and cancel.
 */
#ifndef FAKE_KAIO_H
#define FAKE_KAIO_H

#include <sys/types.h>

/* Counters, per process. */
extern int fake_opens;                 /* successful opens of /dev/kaio */
extern int fake_calls[8];              /* ioctls answered, by _IOC_NR (1 setup .. 5 cancel) */
/* Knobs. */
extern int fake_absent;                /* open("/dev/kaio") fails with ENOENT */
extern int fake_enotty;                /* every ioctl fails with ENOTTY (a module without ioctls) */

/* The descriptor the library opened (the lowest fd on the fake device), or -1. */
int fake_lib_fd(void);
/* Number of descriptors open on the fake device (the node itself not counted). */
int fake_open_fds(void);
/* Number of requests in flight in the context with this id, or -1 if there is none. */
int fake_in_flight(unsigned long ctx_id);

#endif
