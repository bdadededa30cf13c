/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side kaio.ko needs beyond kernel::bindings: the declarations bindgen turns into
 * rust/sys/bindings_generated.rs (see Kbuild for the allowlist), and the prototypes of the
 * thin wrappers in helpers.c around static inline functions and macros.
 */
#ifndef KAIO_HELPERS_H
#define KAIO_HELPERS_H

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>

#endif /* KAIO_HELPERS_H */
