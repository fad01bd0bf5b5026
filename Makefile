# slipway build. `make` builds build/slipway and build/slipway-init; `make test` runs every
# test; `make asan` runs them under AddressSanitizer + UBSan; `make deps` installs packages.
PREFIX    ?= /usr/local
DESTDIR   ?=
SANITIZE  ?= 0
BUILD     ?= $(if $(filter 1,$(SANITIZE)),build-asan,build)

CC        ?= cc
PKGS      := libcurl jansson libcap libseccomp mount libcrypto inih libmicrohttpd
# -Wno-format-truncation: snprintf into fixed buffers is how messages are bounded on purpose.
# -Wno-format-nonliteral: vsnprintf wrappers carry format attributes; callers are checked.
WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
             -Wformat=2 -Wswitch-enum -Wno-format-nonliteral -Wno-format-truncation
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE $(WARNINGS) -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
             -Iinclude $(shell pkg-config --cflags $(PKGS))
LDFLAGS   += -Wl,-z,relro,-z,now
LIBS      := $(shell pkg-config --libs $(PKGS))
ifeq ($(SANITIZE),1)
CFLAGS    += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS   += -fsanitize=address,undefined
endif

# Modules: the library both the CLI and tests link; they know nothing of argv.
LIB_SRCS  := $(wildcard supervisor/*.c)
CLI_SRCS  := $(wildcard supervisor/cli/*.c)
# The init seeds data roots with the supervisor's own seed.c (and the libc-only modules it uses).
INIT_SRCS := $(wildcard supervisor/init/*.c) supervisor/error.c supervisor/seed.c supervisor/fsutil.c \
             supervisor/btrfs.c supervisor/log_escape.c
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
INIT_OBJS := $(INIT_SRCS:%.c=$(BUILD)/init-objs/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# Manual pages slipway(8) and slipway.conf(5), from scdoc sources.
MAN_PAGES := $(patsubst supervisor/man/%.scd,$(BUILD)/man/%,$(wildcard supervisor/man/*.scd))

all: $(BUILD)/slipway $(BUILD)/slipway-init $(MAN_PAGES)

$(BUILD)/man/%: supervisor/man/%.scd
	@mkdir -p $(dir $@)
	@command -v scdoc >/dev/null || { echo "scdoc not found: run 'make deps'" >&2; exit 1; }
	scdoc <$< >$@.tmp && mv $@.tmp $@

# Every header counts, the internal ones in supervisor/ too (struct layouts they define).
$(BUILD)/%.o: %.c $(wildcard include/slipway/*.h supervisor/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libslipway.a: $(LIB_OBJS)
	ar rcs $@ $^

$(BUILD)/slipway: $(CLI_OBJS) $(BUILD)/libslipway.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libslipway.a $(LIBS)

# slipway-init is PID 1 in agents: static (INIT_LIBS below), so it runs in any image. It is
# never built with sanitizers (they need a dynamic runtime and it runs inside the agent image).
INIT_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARNINGS) -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
               -O2 -g -Iinclude -DSLIPWAY_INIT
$(BUILD)/init-objs/%.o: %.c $(wildcard include/slipway/*.h supervisor/*.h supervisor/init/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(INIT_CFLAGS) -c $< -o $@

# Linked statically: libseccomp and libcap confine the service (init_confine.c).
INIT_LIBS := -l:libseccomp.a -l:libcap.a
$(BUILD)/slipway-init: $(INIT_OBJS)
	$(CC) -static -Wl,-z,relro,-z,now -o $@ $^ $(INIT_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libslipway.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libslipway.a $(LIBS) -lcmocka

$(BUILD):
	@mkdir -p $@

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Integration tests drive the real binaries against a private dockerd they start themselves.
# Probes they copy into agents: static, never sanitized (they run inside the agent image).
PROBES := $(BUILD)/tests/session_probe
$(BUILD)/tests/%_probe: tests/integration/%_probe.c
	@mkdir -p $(dir $@)
	$(CC) -static -std=c11 -D_GNU_SOURCE $(WARNINGS) -O2 -o $@ $<

integration: all $(PROBES)
	SLIPWAY_BUILD=$(abspath $(BUILD)) tests/integration/run

test: unit integration

# One-build agents under Jenkins faults at scale: 200 builds (make check runs 40).
soak: all $(PROBES)
	SLIPWAY_BUILD=$(abspath $(BUILD)) IT_ONLY="builds under Jenkins faults" IT_STRESS_BUILDS=200 \
		tests/integration/run

asan:
	$(MAKE) SANITIZE=1 test

# libFuzzer targets for every parser of untrusted input (tests/fuzz/fuzz_*.c), built with clang,
# ASan and UBSan in their own directory. `make fuzz` runs each for FUZZ_SECONDS on a copy of its
# seed corpus (tests/fuzz/corpus/NAME) and fails on any crash, leak or hang; `make fuzz-build`
# only builds. clang knows no -Wformat-truncation; _FORTIFY_SOURCE is left out because its
# checked copies (__memcpy_chk...) bypass ASan's own bounds checks.
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE $(filter-out -Wno-format-truncation,$(WARNINGS)) -O1 -g \
                -fno-omit-frame-pointer -fno-sanitize-recover=all -Iinclude \
                $(shell pkg-config --cflags $(PKGS))
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))

$(FUZZ_BUILD)/supervisor/%.o: supervisor/%.c $(wildcard include/slipway/*.h supervisor/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ_BUILD)/libslipway.a: $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_BUILD)/libslipway.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
		$(FUZZ_BUILD)/libslipway.a $(LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_BINS)

.PHONY: fuzz fuzz-build

# Benchmarks print figures side by side; they assert nothing (these machines are noisy).
bench: all
	scripts/bench-run 10
	scripts/bench-seed
	scripts/bench-serve 10
	scripts/bench-userns 5

deps:
	scripts/install-deps

# The README's two commands: `make run` (a working agent, no Jenkins needed) and `make check`
# (every test), each from a fresh Debian machine.
run:
	scripts/quickstart

check:
	$(MAKE) deps
	$(MAKE) all
	$(MAKE) test

image: all
	scripts/build-agent-image --init $(BUILD)/slipway-init

# The systemd unit names the binary: its ExecStart is pointed at this PREFIX.
install: all
	install -D -m 0755 $(BUILD)/slipway $(DESTDIR)$(PREFIX)/bin/slipway
	install -D -m 0755 $(BUILD)/slipway-init $(DESTDIR)$(PREFIX)/libexec/slipway/slipway-init
	install -D -m 0644 $(BUILD)/man/slipway.8 $(DESTDIR)$(PREFIX)/share/man/man8/slipway.8
	install -D -m 0644 $(BUILD)/man/slipway.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/slipway.conf.5
	install -D -m 0644 scripts/slipway.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/slipway
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|^ExecStart=/usr/local/bin/slipway |ExecStart=$(PREFIX)/bin/slipway |' scripts/systemd/slipway.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/slipway.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/slipway.service

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all unit integration test soak asan bench deps run check image install clean
