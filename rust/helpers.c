// SPDX-License-Identifier: GPL-2.0
/*
 * Thin wrappers around static inline functions and macros that Rust cannot call directly,
 * in the manner of the kernel's rust/helpers/. No logic lives here.
 */
#include "kaio_helpers.h"
