# slipway build. `make` builds build/slipway and build/slipway-init; `make test` runs every
# test; `make asan` runs them under AddressSanitizer + UBSan; `make deps` installs packages.
PREFIX    ?= /usr/local
DESTDIR   ?=
SANITIZE  ?= 0
BUILD     ?= $(if $(filter 1,$(SANITIZE)),build-asan,build)

CC        ?= cc
PKGS      := libcurl jansson libcap libseccomp mount libcrypto inih
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
INIT_SRCS := $(wildcard supervisor/init/*.c) supervisor/error.c
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
INIT_OBJS := $(INIT_SRCS:%.c=$(BUILD)/init-objs/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/slipway $(BUILD)/slipway-init

$(BUILD)/%.o: %.c $(wildcard include/slipway/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libslipway.a: $(LIB_OBJS)
	ar rcs $@ $^

$(BUILD)/slipway: $(CLI_OBJS) $(BUILD)/libslipway.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libslipway.a $(LIBS)

# slipway-init is PID 1 in agents: static, libc only, so it runs in any image. It is never
# built with sanitizers (they need a dynamic runtime and it runs inside the agent image).
INIT_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARNINGS) -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
               -O2 -g -Iinclude -DSLIPWAY_INIT
$(BUILD)/init-objs/%.o: %.c $(wildcard include/slipway/*.h) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(INIT_CFLAGS) -c $< -o $@

$(BUILD)/slipway-init: $(INIT_OBJS)
	$(CC) -static -Wl,-z,relro,-z,now -o $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libslipway.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libslipway.a $(LIBS) -lcmocka

$(BUILD):
	@mkdir -p $@

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Integration tests drive the real binaries against a private dockerd they start themselves.
integration: all
	SLIPWAY_BUILD=$(abspath $(BUILD)) tests/integration/run

test: unit integration

asan:
	$(MAKE) SANITIZE=1 test

# Benchmarks print figures side by side; they assert nothing (these machines are noisy).
bench: all
	scripts/bench-run 10
	scripts/bench-seed
	scripts/bench-serve 10

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

install: all
	install -D -m 0755 $(BUILD)/slipway $(DESTDIR)$(PREFIX)/bin/slipway
	install -D -m 0755 $(BUILD)/slipway-init $(DESTDIR)$(PREFIX)/libexec/slipway/slipway-init

clean:
	rm -rf build build-asan

.PHONY: all unit integration test asan bench deps run check image install clean
