// SPDX-License-Identifier: GPL-2.0
/*
 * make profile: a sampling profile of the whole guest while a program runs, without the
 * function graph's inflation. A CPU-clock perf event on every CPU (an hrtimer: no PMU is
 * needed under TCG) samples the instruction pointer and the kernel call chain every PERIOD
 * ns; the samples are resolved against /proc/kallsyms (kaio.ko's symbols too) and printed
 * as time per operation, so that two programs doing the same operations compare line by
 * line. The program's stdout passes through; a line "ops N" there says how many operations
 * it made.
 *   sample [-n] [-r] [-p PERIOD_NS] [-t TOP] [-a SYMBOL_PART] -- PROGRAM ARGS...
 * -n: no kernel call chains (only self time); -r: Rust symbols by their raw (mangled) names,
 * not their last three identifiers (which say only `drop::Drop::drop` of an Arc's drop); -a:
 * also the samples by offset in the symbols whose name contains SYMBOL_PART (raw names, for
 * objdump).
 * Samples in an interrupts-off region land where interrupts come back on (the hrtimer waits
 * for it): an unlock that restores interrupts carries the time of its critical section.
 */
#include <ctype.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "common.h"

#define RING_PAGES 256
#define MAX_CPUS 64

struct sym {
	uint64_t addr;
	char *name, *raw;
	long self, incl;
	int seen; /* the sample that last counted it inclusively */
};

static struct sym *syms;
static size_t nsyms;
static long total, idle, user, lost;
static int chains = 1, raw_names;
static const char *annotate;
/* Samples by offset in the annotated symbols: (symbol index, offset) pairs counted. */
static struct { size_t sym; uint64_t off; long n; } hits[65536];
static size_t nhits;

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* A readable name for a Rust v0 symbol (_R...): its last three identifiers, joined by ::. */
static char *readable(const char *name, const char *module)
{
	char out[256] = "", *res;
	const char *ids[3] = { 0 };
	int lens[3] = { 0 };

	if (!raw_names && strncmp(name, "_R", 2) == 0) {
		for (const char *s = name + 2; *s;) {
			if (*s >= '1' && *s <= '9') {
				char *end;
				long len = strtol(s, &end, 10);

				if (*end == '_')
					end++;
				if (len > (long)strlen(end))
					break;
				ids[0] = ids[1], lens[0] = lens[1];
				ids[1] = ids[2], lens[1] = lens[2];
				ids[2] = end, lens[2] = (int)len;
				s = end + len;
			} else if ((*s == 's' || *s == 'B') && (isalnum((unsigned char)s[1]) || s[1] == '_')) {
				/* A disambiguator (s<base-62>_, a crate's hash) or a back reference
				 * (B<base-62>_): no name, and its digits are no length. */
				s++;
				while (*s && *s != '_')
					s++;
				if (*s)
					s++;
			} else {
				s++;
			}
		}
	}
	if (ids[2]) {
		for (int i = 0; i < 3; i++)
			if (ids[i])
				snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%.*s",
					 out[0] ? "::" : "", lens[i], ids[i]);
	} else {
		snprintf(out, sizeof(out), "%.200s", name);
	}
	if (module)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), " [%s]", module);
	res = strdup(out);
	if (!res)
		die("strdup");
	return res;
}

static void load_kallsyms(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[1024];
	size_t cap = 0;

	if (!f)
		die("/proc/kallsyms");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[600], module[64] = "";

		if (sscanf(line, "%llx %c %599s [%63[^]]]", &addr, &type, name, module) < 3)
			continue;
		if (type != 't' && type != 'T')
			continue;
		if (nsyms == cap) {
			cap = cap ? cap * 2 : 65536;
			syms = realloc(syms, cap * sizeof(*syms));
			if (!syms)
				die("realloc");
		}
		syms[nsyms++] = (struct sym){ .addr = addr, .name = readable(name, module[0] ? module : NULL),
					      .raw = annotate ? strdup(name) : NULL, .seen = -1 };
	}
	fclose(f);
	if (nsyms == 0 || syms[0].addr == 0) {
		fprintf(stderr, "sample: /proc/kallsyms gives no addresses\n");
		exit(1);
	}
	qsort(syms, nsyms, sizeof(*syms), by_addr);
}

static struct sym *lookup(uint64_t ip)
{
	size_t lo = 0, hi = nsyms;

	if (ip < syms[0].addr)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (syms[mid].addr <= ip)
			lo = mid;
		else
			hi = mid;
	}
	return &syms[lo];
}

static void account(const uint64_t *rec)
{
	uint64_t ip = rec[0];
	uint32_t pid = (uint32_t)rec[1];
	uint64_t nr = chains ? rec[2] : 0;
	const uint64_t *chain = rec + 3;
	struct sym *s;

	total++;
	if (pid == 0) {
		idle++;
		return;
	}
	if ((int64_t)ip >= 0) {
		user++;
		return;
	}
	s = lookup(ip);
	if (s)
		s->self++;
	if (s && annotate && strstr(s->name, annotate)) {
		size_t i = 0;

		while (i < nhits && !(hits[i].sym == (size_t)(s - syms) && hits[i].off == ip - s->addr))
			i++;
		if (i == nhits && nhits < sizeof(hits) / sizeof(hits[0]))
			hits[nhits++] = (typeof(hits[0])){ (size_t)(s - syms), ip - s->addr, 0 };
		if (i < nhits)
			hits[i].n++;
	}
	for (uint64_t i = 0; i < nr; i++) {
		if (chain[i] >= (uint64_t)PERF_CONTEXT_MAX)
			continue;
		s = lookup(chain[i]);
		if (s && s->seen != (int)total) {
			s->seen = (int)total;
			s->incl++;
		}
	}
}

/* Takes every record out of one CPU's ring. */
static void drain(struct perf_event_mmap_page *meta, size_t data_size)
{
	char *data = (char *)meta + meta->data_offset;
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE), tail = meta->data_tail;
	static uint64_t rec[1024];

	while (tail < head) {
		struct perf_event_header h;
		size_t off = tail % data_size;

		for (size_t i = 0; i < sizeof(h); i++)
			((char *)&h)[i] = data[(off + i) % data_size];
		if (h.size > sizeof(h) + sizeof(rec))
			break;
		for (size_t i = 0; i < h.size - sizeof(h); i++)
			((char *)rec)[i] = data[(off + sizeof(h) + i) % data_size];
		if (h.type == PERF_RECORD_SAMPLE)
			account(rec);
		else if (h.type == PERF_RECORD_LOST)
			lost += (long)rec[1];
		tail += h.size;
	}
	__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
}

static int by_hits(const void *a, const void *b)
{
	const typeof(hits[0]) *x = a, *y = b;

	return (y->n > x->n) - (y->n < x->n);
}

static int by_self(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (y->self > x->self) - (y->self < x->self);
}

static int by_incl(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (y->incl > x->incl) - (y->incl < x->incl);
}

int main(int argc, char **argv)
{
	long period = 100000, top = 40, ops = 0;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN), fds[MAX_CPUS], out[2], opt, status;
	struct perf_event_mmap_page *rings[MAX_CPUS];
	size_t page = (size_t)sysconf(_SC_PAGESIZE), data_size = RING_PAGES * page;
	struct pollfd pfd[MAX_CPUS + 1];
	char buf[4096], line[4096];
	size_t linelen = 0;
	pid_t child;
	int open_out = 1;
	long long t0;
	double wall;

	while ((opt = getopt(argc, argv, "+p:t:nra:")) != -1) {
		if (opt == 'n')
			chains = 0;
		else if (opt == 'r')
			raw_names = 1;
		else if (opt == 'a')
			annotate = optarg;
		else if (opt == 'p')
			period = atol(optarg);
		else if (opt == 't')
			top = atol(optarg);
		else
			return 2;
	}
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc || ncpu > MAX_CPUS || period <= 0) {
		fprintf(stderr, "usage: sample [-n] [-r] [-p PERIOD_NS] [-t TOP] [-a SYMBOL_PART] -- PROGRAM ARGS...\n");
		return 2;
	}
	load_kallsyms();
	for (int c = 0; c < ncpu; c++) {
		struct perf_event_attr a = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(a),
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.sample_period = (uint64_t)period,
			.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | (chains ? PERF_SAMPLE_CALLCHAIN : 0),
			.disabled = 1,
			.exclude_callchain_user = 1,
			.wakeup_events = 64,
		};

		fds[c] = (int)syscall(SYS_perf_event_open, &a, -1, c, -1, 0);
		if (fds[c] < 0)
			die("perf_event_open");
		rings[c] = mmap(NULL, (RING_PAGES + 1) * page, PROT_READ | PROT_WRITE, MAP_SHARED, fds[c], 0);
		if (rings[c] == MAP_FAILED)
			die("mmap");
		pfd[c] = (struct pollfd){ .fd = fds[c], .events = POLLIN };
	}
	if (pipe(out) < 0)
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execv(argv[optind], argv + optind);
		die(argv[optind]);
	}
	close(out[1]);
	pfd[ncpu] = (struct pollfd){ .fd = out[0], .events = POLLIN };
	for (int c = 0; c < ncpu; c++)
		ioctl(fds[c], PERF_EVENT_IOC_ENABLE, 0);
	t0 = now_ns();
	while (open_out) {
		if (poll(pfd, (nfds_t)ncpu + 1, 100) < 0)
			continue;
		for (int c = 0; c < ncpu; c++)
			drain(rings[c], data_size);
		if (pfd[ncpu].revents) {
			ssize_t n = read(out[0], buf, sizeof(buf));

			if (n <= 0) {
				open_out = 0;
				pfd[ncpu].fd = -1;
				continue;
			}
			fwrite(buf, 1, (size_t)n, stdout);
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] != '\n') {
					if (linelen < sizeof(line) - 1)
						line[linelen++] = buf[i];
					continue;
				}
				line[linelen] = 0;
				linelen = 0;
				sscanf(line, "ops %ld", &ops);
			}
		}
	}
	for (int c = 0; c < ncpu; c++) {
		ioctl(fds[c], PERF_EVENT_IOC_DISABLE, 0);
		drain(rings[c], data_size);
	}
	if (waitpid(child, &status, 0) < 0)
		die("waitpid");
	wall = (double)(now_ns() - t0);
	/* Under TCG a timer can fire late, past more than one period: those periods get no sample. */
	printf("sample: %ld samples every %ld ns on %d CPUs (%.0f%% of the periods of %.2f s): %ld idle, %ld user, "
	       "%ld kernel; %ld lost; %ld ops\n",
	       total, period, ncpu, 100.0 * (double)total * (double)period / (wall * ncpu), wall / 1e9, idle, user,
	       total - idle - user, lost, ops);
	if (ops <= 0)
		ops = 1;
	printf("sample: ns per op: user %.0f, kernel %.0f (idle %.0f)\n", (double)user * period / ops,
	       (double)(total - idle - user) * period / ops, (double)idle * period / ops);
	if (annotate) {
		printf("sample: self, ns per op, by offset in the symbols matching \"%s\"\n", annotate);
		qsort(hits, nhits, sizeof(hits[0]), by_hits);
		for (size_t i = 0; i < nhits && i < 80; i++)
			printf("  %7.0f  %s+0x%llx\n", (double)hits[i].n * period / (ops ? ops : 1), syms[hits[i].sym].raw,
			       (unsigned long long)hits[i].off);
	}
	qsort(syms, nsyms, sizeof(*syms), by_self);
	printf("sample: self, ns per op (%% of kernel samples)\n");
	for (long i = 0; i < top && i < (long)nsyms && syms[i].self; i++)
		printf("  %7.0f %5.1f%%  %s\n", (double)syms[i].self * period / ops,
		       100.0 * syms[i].self / (total - idle - user), syms[i].name);
	if (!chains)
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	qsort(syms, nsyms, sizeof(*syms), by_incl);
	printf("sample: with callees, ns per op (%% of kernel samples)\n");
	for (long i = 0; i < top && i < (long)nsyms && syms[i].incl; i++)
		printf("  %7.0f %5.1f%%  %s\n", (double)syms[i].incl * period / ops,
		       100.0 * syms[i].incl / (total - idle - user), syms[i].name);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
