/*
 * kaio-shm-shim: System V shared memory (shmget/shmat/shmdt/shmctl) emulated with shared
 * anonymous mappings, for guests whose kernel has no CONFIG_SYSVIPC. fio keeps its job table
 * in a SysV segment (it is attached before the job processes fork, so a MAP_SHARED anonymous
 * mapping is shared with them just the same). Preloaded by run-fio.sh only when
 * /proc/sysvipc is absent; fio itself is not modified.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define MAX_SEGS 64

static struct seg {
	void *addr;
	size_t size;
	int used;
} segs[MAX_SEGS];

int shmget(key_t key, size_t size, int flags)
{
	(void)key;
	(void)flags;
	for (int i = 0; i < MAX_SEGS; i++) {
		if (segs[i].used)
			continue;
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		segs[i] = (struct seg){ p, size, 1 };
		return i + 1;
	}
	errno = ENOSPC;
	return -1;
}

void *shmat(int id, const void *addr, int flags)
{
	(void)addr;
	(void)flags;
	if (id < 1 || id > MAX_SEGS || !segs[id - 1].used) {
		errno = EINVAL;
		return (void *)-1;
	}
	return segs[id - 1].addr;
}

int shmdt(const void *addr)
{
	for (int i = 0; i < MAX_SEGS; i++) {
		if (segs[i].used && segs[i].addr == addr) {
			munmap(segs[i].addr, segs[i].size);
			segs[i].used = 0;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

int shmctl(int id, int cmd, struct shmid_ds *buf)
{
	if (id < 1 || id > MAX_SEGS || !segs[id - 1].used) {
		errno = EINVAL;
		return -1;
	}
	if (cmd == IPC_STAT && buf) {
		memset(buf, 0, sizeof(*buf));
		buf->shm_segsz = segs[id - 1].size;
	}
	/* IPC_RMID: the mapping goes with its last user, as a removed segment does. */
	return 0;
}
