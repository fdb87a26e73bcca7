# Kiln top-level Makefile: delegates to extension/ (PGXS) and daemon/.
#
#   make               build the extension suite and the kiln binary
#   make install       install both (PREFIX=/usr/local for the binary; the
#                      extension goes where pg_config says Postgres looks)
#   make check         build, then unit + pg_regress + integration tests;
#                      ends with one line "N passed, N failed"
#   make check-asan    the same suite against an ASan/UBSan build of the daemon
#   make dev           install dependencies, build, install, run `kiln dev`
#   make bench         benchmarks against anchors (pgbench, nginx), ratios
#   make fuzz          short libFuzzer runs of the parsers
#
# PG_CONFIG selects the PostgreSQL installation (default: pg_config on PATH).

PG_CONFIG ?= pg_config
PREFIX    ?= /usr/local
export PG_CONFIG PREFIX

.PHONY: all extension daemon install deps check check-asan dev bench fuzz clean format

all: extension daemon

extension:
	@$(MAKE) --no-print-directory -C extension

daemon:
	@$(MAKE) --no-print-directory -C daemon

install: all
	@$(MAKE) --no-print-directory -C extension install
	@$(MAKE) --no-print-directory -C daemon install

# Installs the Debian and npm packages building and testing need (idempotent;
# a no-op when everything is there).
deps:
	@scripts/install-deps

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C daemon unit
	@tests/run-all

check-asan: deps
	@$(MAKE) --no-print-directory extension
	@$(MAKE) --no-print-directory -C daemon asan unit-asan
	@KILN_BIN=$(CURDIR)/build/asan/kiln KILN_UNIT_DIR=$(CURDIR)/build/asan/unit tests/run-all

dev: deps
	@$(MAKE) --no-print-directory all
	@scripts/as-root $(MAKE) --no-print-directory install
	@$(PREFIX)/bin/kiln dev $(DEV_ARGS)

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/run

fuzz:
	@$(MAKE) --no-print-directory -C daemon fuzz
	@tests/fuzz/run

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	@$(MAKE) --no-print-directory -C extension clean
	@$(MAKE) --no-print-directory -C daemon clean
	@rm -rf build
