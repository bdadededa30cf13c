// SPDX-License-Identifier: LGPL-2.1-or-later
/* Exits 0 if the host kernel's own AIO works (through the system's libaio), 1 otherwise. */
#include <libaio.h>

int main(void)
{
	io_context_t ctx = 0;

	return io_setup(1, &ctx) != 0 || io_destroy(ctx) != 0;
}
