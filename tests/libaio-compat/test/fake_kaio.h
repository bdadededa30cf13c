/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fake /dev/kaio for host tests of the library: the test program defines open() and ioctl(),
 * which take precedence over the C library's for every caller in the process (the library
 * included). Opening "/dev/kaio" returns a new open file of one memfd (the fake device node);
 * ioctls on that file are answered here by a small model of the kaio ioctls: contexts with a
 * real ring in anonymous memory, KAIO_CMD_DELAY requests that complete when io_getevents
 * needs them ("time passes") or at once when their delay is 0, cancel, and version 2's
 * KAIO_IOC_PGETEVENTS (io_getevents plus a check of the mask arguments) and
 * KAIO_IOC_CANCEL_MATCH (its argument checks, matching, nr_running, RESULT; WAIT returns at
 * once, as every fake request can be cancelled or is reported running).
 */
#ifndef FAKE_KAIO_H
#define FAKE_KAIO_H

#include <sys/types.h>
#include "kaio.h"

/* Counters, per process. */
extern int fake_opens;                 /* successful opens of /dev/kaio */
extern int fake_calls[8];              /* ioctls answered, by _IOC_NR (1 setup .. 7 pgetevents) */
/* The last argument blocks of the version 2 ioctls, as the fake received them. */
extern struct kaio_pgetevents_args fake_last_pgetevents;
extern struct kaio_cancel_match_args fake_last_cancel_match;
/* Knobs. */
extern int fake_absent;                /* open("/dev/kaio") fails with ENOENT */
extern int fake_enotty;                /* every ioctl fails with ENOTTY (a module without ioctls) */
extern int fake_v1;                    /* the version 2 ioctls fail with ENOTTY (a version 1 module) */
extern int fake_running;               /* CANCEL_MATCH finds every match running (uncancellable) */

/* The descriptor the library opened (the lowest fd on the fake device), or -1. */
int fake_lib_fd(void);
/* Number of descriptors open on the fake device (the node itself not counted). */
int fake_open_fds(void);
/* Number of requests in flight in the context with this id, or -1 if there is none. */
int fake_in_flight(unsigned long ctx_id);

#endif
