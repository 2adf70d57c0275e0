# liblog -- GNU make build.
#
#   make                 liblog.so.1 + liblog.a + examples into $(BUILD)
#   make check           install missing packages, build, run every test under
#                        both I/O backends, then again under ASan+UBSan and
#                        the threaded ones under TSan (io_uring backend)
#   make demo            install missing packages, run examples/demo
#   make bench           run the benchmarks in bench/, then liblog side by
#                        side with SQLite, RocksDB, LMDB, Redis (bench/peers.sh)
#   make soak SOAK_KILLS=N SOAK_SECONDS=T SOAK_POINTS=P
#                        long crash / power-loss / I/O-fault runs, and
#                        the replication simulator on random seeds
#   make fuzz FUZZ_SECONDS=N   build the libFuzzer targets in fuzz/ (clang)
#                        and run each for N seconds (default 30)
#   make install PREFIX=/usr/local DESTDIR=
#
# Variables: BUILD (output dir, default build), SANITIZE=1 (ASan+UBSan),
# CC, CFLAGS, PREFIX, DESTDIR.

SHELL := /bin/bash
BUILD ?= build
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man

VERSION_MAJOR := 1
VERSION := 1.0.0
SONAME := liblog.so.$(VERSION_MAJOR)

PKGS := liburing libxxhash libzstd
DEB_PKGS := liburing-dev libxxhash-dev libzstd-dev check pkg-config
PKG_CONFIG ?= pkg-config

CC ?= cc
OPT ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter -Werror=implicit-function-declaration
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -pthread -Iinclude -Ilib
ifeq ($(SANITIZE),1)
BASE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
               -fno-sanitize-recover=undefined
SAN_LDFLAGS := -fsanitize=address,undefined
endif
ifeq ($(SANITIZE),thread)
BASE_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
SAN_LDFLAGS := -fsanitize=thread
endif

# pkg-config is asked lazily so `make deps` can run before the packages exist.
DEP_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEP_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

ALL_CFLAGS = $(BASE_CFLAGS) $(DEP_CFLAGS) $(CFLAGS)

LIB_SRCS := $(sort $(wildcard lib/*.c))
LIB_STATIC_OBJS := $(patsubst lib/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_PIC_OBJS := $(patsubst lib/%.c,$(BUILD)/pic/%.o,$(LIB_SRCS))
LIB_HDRS := $(wildcard lib/*.h) include/liblog.h

TEST_SRCS := $(sort $(wildcard test/test_*.c))
TEST_BINS := $(patsubst test/%.c,$(BUILD)/test/%,$(TEST_SRCS))
TEST_SUPPORT := $(wildcard test/support/*.c)
TEST_SUPPORT_HDRS := $(wildcard test/support/*.h)

EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

SHARED := $(BUILD)/$(SONAME)
STATIC := $(BUILD)/liblog.a

.PHONY: all deps check check-one check-install check-tsan demo bench install clean \
        tests examples benches soak fuzz fuzz-deps fuzz-build fuzz-seeds
.DEFAULT_GOAL := all

all: $(SHARED) $(STATIC) examples

# ---------------------------------------------------------------- packages
# Installs what is missing and nothing else; sudo only when not root.
deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# ---------------------------------------------------------------- library
$(BUILD)/obj/%.o: lib/%.c $(LIB_HDRS) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c $< -o $@

$(BUILD)/pic/%.o: lib/%.c $(LIB_HDRS) | $(BUILD)/pic
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -fPIC -c $< -o $@

$(STATIC): $(LIB_STATIC_OBJS)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_PIC_OBJS) lib/liblog.map
	$(CC) -shared -o $(BUILD)/liblog.so.$(VERSION) $(LIB_PIC_OBJS) \
	  -Wl,-soname,$(SONAME) -Wl,--version-script=lib/liblog.map -Wl,-z,defs \
	  $(SAN_LDFLAGS) $(DEP_LIBS) -pthread
	ln -sf liblog.so.$(VERSION) $@
	ln -sf $(SONAME) $(BUILD)/liblog.so

$(BUILD)/obj $(BUILD)/pic $(BUILD)/test $(BUILD)/examples $(BUILD)/bench:
	mkdir -p $@

# ---------------------------------------------------------------- tests
# Unit tests link the static library so they can reach internal (lgi_)
# functions; test_abi checks the shared library's exports.
$(BUILD)/test/%: test/%.c $(STATIC) $(TEST_SUPPORT) $(TEST_SUPPORT_HDRS) $(LIB_HDRS) | $(BUILD)/test
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itest/support -o $@ $< $(TEST_SUPPORT) \
	  $(STATIC) $(SAN_LDFLAGS) $(CHECK_LIBS) $(DEP_LIBS) -pthread -lm

tests: $(TEST_BINS) $(SHARED)

# One pass of the suite: every test binary under every I/O backend.
check-one: tests examples
	@BUILD=$(BUILD) BACKENDS="$(BACKENDS)" bash test/run.sh $(TEST_BINS)
	@BUILD=$(BUILD) CC=$(CC) bash test/python.sh

# make install into a scratch DESTDIR, then build and run examples/hello.c
# against the installed copy through pkg-config.
check-install: $(SHARED) $(STATIC)
	@BUILD=$(BUILD) bash test/install.sh

# Suites with threads of their own, re-run under ThreadSanitizer.
TSAN_TESTS := $(filter $(addprefix test/,$(addsuffix .c,test_uring \
    test_partition test_partition_async test_api test_producer \
    test_consumer test_threads test_lifecycle test_tools test_group \
    test_cleaner test_security test_faults test_stats test_idempotence \
    test_replication test_txn test_isolation test_clock)),$(TEST_SRCS))

check-tsan:
	$(MAKE) BUILD=$(BUILD)-tsan SANITIZE=thread OPT="-O1 -g" examples \
	  $(patsubst test/%.c,$(BUILD)-tsan/test/%,$(TSAN_TESTS))
	@BUILD=$(BUILD)-tsan TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
	  BACKENDS=io_uring bash test/run.sh $(patsubst test/%.c,$(BUILD)-tsan/test/%,$(TSAN_TESTS))

# The plain pass runs every suite under both I/O backends; the sanitizer
# passes run the default (io_uring) backend only, which keeps the whole
# target near 10 minutes on 2 cores.
check: deps
	$(MAKE) check-one
	$(MAKE) check-install
	$(MAKE) check-one BUILD=$(BUILD)-asan SANITIZE=1 OPT="-O1 -g" \
	  BACKENDS=io_uring
	$(MAKE) check-tsan

# ---------------------------------------------------------------- soak
# The crash and fault suites with long settings: SOAK_KILLS kills per crash
# test (SIGKILL, power loss) per I/O backend, each bounded by SOAK_SECONDS;
# SOAK_POINTS random I/O-fault injection points per backend; the
# replicated cluster's power cuts (test_replica_crash) likewise, SOAK_KILLS
# cuts bounded by SOAK_SECONDS.  Then the replication simulator
# (test_replica_sim --soak) runs fresh random seeds for SOAK_SECONDS; a
# failing seed prints itself (replay: --seed S).
SOAK_KILLS ?= 1000
SOAK_SECONDS ?= 600
SOAK_POINTS ?= 3000
soak: deps
	$(MAKE) $(BUILD)/test/test_crash $(BUILD)/test/test_faults \
	  $(BUILD)/test/test_replica_crash $(BUILD)/test/test_replica_sim
	@BUILD=$(BUILD) LIBLOG_CRASH_KILLS=$(SOAK_KILLS) \
	  LIBLOG_CRASH_SECONDS=$(SOAK_SECONDS) LIBLOG_FAULT_POINTS=$(SOAK_POINTS) \
	  LIBLOG_REPL_CRASH_KILLS=$(SOAK_KILLS) \
	  LIBLOG_REPL_CRASH_SECONDS=$(SOAK_SECONDS) \
	  bash test/run.sh $(BUILD)/test/test_crash $(BUILD)/test/test_faults \
	  $(BUILD)/test/test_replica_crash
	$(BUILD)/test/test_replica_sim --soak $(SOAK_SECONDS)

# ---------------------------------------------------------------- fuzz
# libFuzzer targets fuzz/fuzz_*.c, built with clang against a copy of the
# library instrumented for coverage, ASan and UBSan.  New corpus entries go
# to $(FUZZ_BUILD)/corpus/<target> (scratch); the committed seeds in
# fuzz/corpus/<target> are read only; crashes land in
# $(FUZZ_BUILD)/crashes/.  Target fuzz_X uses fuzz/corpus/X.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
# fuzz_recovery opens a partition per input; on tmpfs its fdatasyncs cost
# nothing, which makes it about a hundred times faster.
FUZZ_TMPDIR ?= $(if $(wildcard /dev/shm),/dev/shm,/tmp)
FUZZ_BUILD := $(BUILD)-fuzz
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -pthread -Iinclude -Ilib \
  -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer $(DEP_CFLAGS)
FUZZ_LIB_OBJS := $(patsubst lib/%.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRCS))
.SECONDARY: $(FUZZ_LIB_OBJS)

fuzz-deps:
	@for p in clang libclang-rt-14-dev; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(FUZZ_BUILD)/obj/%.o: lib/%.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) \
	  $(DEP_LIBS) -pthread -lm

fuzz-build: deps fuzz-deps
	$(MAKE) $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes; \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  TMPDIR=$(FUZZ_TMPDIR) \
	  $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- \
	    $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$${t#fuzz_} 2>&1 | \
	    grep -E 'stat::number_of_executed_units|Done|ERROR|SUMMARY|crash-' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || exit 1; \
	done

# Regenerates the committed seed corpora from files the engine writes.
fuzz-seeds: $(SHARED)
	@mkdir -p $(BUILD)/fuzz
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iinclude -o $(BUILD)/fuzz/seeds \
	  fuzz/seeds.c -L$(BUILD) -llog -Wl,-rpath,'$$ORIGIN/..'
	rm -rf $(BUILD)/fuzz/scratch fuzz/corpus && mkdir -p fuzz/corpus
	$(BUILD)/fuzz/seeds fuzz/corpus $(BUILD)/fuzz/scratch

# ---------------------------------------------------------------- examples
$(BUILD)/examples/%: examples/%.c $(SHARED) include/liblog.h | $(BUILD)/examples
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iinclude -o $@ $< \
	  -pthread -L$(BUILD) -llog -Wl,-rpath,'$$ORIGIN/..' $(SAN_LDFLAGS) $(EXAMPLE_LIBS)

# lgdump reads segments itself (no liblog internals) and opens zstd
# batches with libzstd.
$(BUILD)/examples/lgdump: EXAMPLE_LIBS = -lzstd

# examples/replicated: three processes joined by a TCP loopback transport.
EXAMPLE_BINS += $(BUILD)/examples/replicated/replicated
$(BUILD)/examples/replicated/replicated: examples/replicated/replicated.c $(SHARED) include/liblog.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iinclude -o $@ $< \
	  -pthread -L$(BUILD) -llog -Wl,-rpath,'$$ORIGIN/../..' $(SAN_LDFLAGS)

examples: $(EXAMPLE_BINS)

DEMO_DIR ?= ./demo-data
demo: deps
	$(MAKE) $(BUILD)/examples/demo
	$(BUILD)/examples/demo $(DEMO_DIR)

# ---------------------------------------------------------------- bench
$(BUILD)/bench/%: bench/%.c bench/bench.h $(STATIC) $(LIB_HDRS) | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(DEP_LIBS) -pthread -lm

benches: $(BENCH_BINS)

BENCH_DIR ?= ./bench-data
bench: deps
	$(MAKE) OPT="-O2 -g -march=native" BUILD=$(BUILD)-bench benches
	@for b in $(patsubst bench/%.c,$(BUILD)-bench/bench/%,$(BENCH_SRCS)); do \
	  echo "== $$b"; $$b $(BENCH_DIR) || exit 1; done
	@echo "== peers (bench/peers.sh)"
	@BUILD=$(BUILD)-bench BENCH_DIR=$(BENCH_DIR) CC=$(CC) bash bench/peers.sh

# ---------------------------------------------------------------- install
install: $(SHARED) $(STATIC)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 0644 include/liblog.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 0755 $(BUILD)/liblog.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf liblog.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/liblog.so
	install -m 0644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    pkgconfig/liblog.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/liblog.pc
	install -m 0644 man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 0644 man/man7/*.7 $(DESTDIR)$(MANDIR)/man7/

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-bench $(BUILD)-fuzz
