# kaio: the two commands are `make check` and `make run`; `make help` lists the rest.
VARIANT ?= release
PROG ?=
ARGS ?=
TEST ?=
CASE ?=
SECONDS ?= 600
SEED ?=
# V=1: `make run` (and stress, fuzz, faults, bench) show the whole guest console, not only the
# program's output and the kernel lines that matter.
V ?=
BIN := tests/target/x86_64-unknown-linux-gnu/release

.PHONY: all help setup kernels module tests check check-harness check-bugs test run stress fuzz faults bench profile clean

all: module

help:
	@echo "make check                      set up, build, boot both guests, run every test"
	@echo "make test TEST=name [CASE=name] [VARIANT=debug]   one tests.list entry / kaio-tests case"
	@echo "make check-harness              broken modules (leak, WARN, sleep in atomic) must fail"
	@echo "make check-bugs                 fixed fs/aio.c bugs put back: their history cases must fail"
	@echo "make run [PROG=path] [ARGS='...'] [VARIANT=debug] [INTERACTIVE=1] [V=1] [TIMEOUT=s]"
	@echo "make stress [SECONDS=600] [VARIANT=debug] [SEED=n]  the stress program, as long as asked"
	@echo "make fuzz [SECONDS=600] [VARIANT=debug] [SEED=n]    the ioctl fuzzer, as long as asked"
	@echo "make faults [SECONDS=600] [SEED=n]   fault sweep, then a random-fault soak that long (debug guest)"
	@echo "make bench [ARGS='--only polled_read']  kaio vs native AIO vs io_uring, side by side in one guest"
	@echo "make profile                    where a cancel's and a polled read's time goes (function graph, samples)"
	@echo "make module [VARIANT=debug]     build kaio.ko (build/VARIANT/kaio.ko)"
	@echo "make kernels                    build (or find cached) both guest kernels"
	@echo "make setup                      install missing packages and bindgen"
	@echo "make clean                      remove build/ and tests/target (kernels stay cached)"

setup:
	qemu/setup.sh

kernels: setup
	qemu/build-kernel.sh release
	qemu/build-kernel.sh debug

module: setup
	qemu/build-module.sh $(VARIANT)

tests:
	cd tests && cargo build --release --target x86_64-unknown-linux-gnu --bins

check:
	tests/check.sh

check-harness:
	tests/check-harness.sh

check-bugs: tests
	tests/check-bugs.sh

test:
	VARIANTS=$(VARIANT) TEST='$(TEST)' CASE='$(CASE)' tests/check.sh

run:
	@V='$(V)' qemu/run.sh $(VARIANT) '$(PROG)' '$(ARGS)'

stress: tests
	V='$(V)' TIMEOUT=$$(($(SECONDS) + 300)) qemu/run.sh $(VARIANT) $(BIN)/kaio-stress '--seconds $(SECONDS)$(if $(SEED), --seed $(SEED))'

fuzz: tests
	V='$(V)' TIMEOUT=$$(($(SECONDS) + 300)) qemu/run.sh $(VARIANT) $(BIN)/kaio-fuzz '--seconds $(SECONDS)$(if $(SEED), --seed $(SEED))'

# Fault injection exists only in the debug guest.
faults: tests
	V='$(V)' TIMEOUT=$$(($(SECONDS) + 600)) qemu/run.sh debug $(BIN)/kaio-faults '--soak-seconds $(SECONDS)$(if $(SEED), --seed $(SEED))'

bench:
	tests/bench.sh $(ARGS)

profile:
	tests/profile/profile.sh

clean:
	rm -rf build tests/target
