# callrec: build, test and run.
#   make install    npm ci (when needed) + Debian test tools (as root)
#   make build      compile TypeScript to dist/ and the media I/O addon to build/
#   make test       install, build, run all tests (unit, then interop)
#   make run        install, build, serve with var/callrec.yaml (written once)
#   make bench-cps  install, build, calls-per-second benchmark (bench/cps)
#   make clean      remove build output

SHELL := /bin/bash
.NOTPARALLEL:
.PHONY: install install-node install-debian build run test bench-cps clean

# Tools the tests and benchmarks call, and the Debian packages that bring them.
TOOLS := sipp tshark ffprobe sox openssl sshd smbd smbclient baresip
DEB_PACKAGES := sip-tester tshark ffmpeg sox openssl openssh-server samba smbclient baresip-core

CONFIG := var/callrec.yaml

install: install-node install-debian

# npm ci when node_modules is missing or package-lock.json is newer than the
# last install (npm keeps node_modules/.package-lock.json up to date).
install-node:
	@if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
	    || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  echo "npm ci"; npm ci --no-audit --no-fund; \
	fi

install-debian:
	@missing=""; \
	for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  if command -v debconf-set-selections >/dev/null 2>&1; then \
	    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	  fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEB_PACKAGES); \
	else \
	  echo "missing tools:$$missing (as root: apt-get install $(DEB_PACKAGES)); tests that need them are skipped or fail"; \
	fi

# The native modules (node-gyp): media I/O (native/media_io.c), the spool's
# writer thread (native/file_appender.c) and SRTP crypto
# (native/srtp_crypto.c, on the OpenSSL inside Node). Without a C compiler
# callrec still runs, on Node's dgram sockets, fs.write and SRTP in
# JavaScript, all slower (logged at start).
build:
	npx tsc -p .
	@npm run --silent build:native >build-native.log 2>&1 \
	  && echo "native modules built (build/Release/media_io.node, file_appender.node, srtp_crypto.node)" \
	  || { tail -20 build-native.log; echo "native modules NOT built: callrec falls back to Node's dgram, fs.write and SRTP in JavaScript"; }

run: install build
	@mkdir -p $(dir $(CONFIG))
	@if [ ! -f $(CONFIG) ]; then node bin/callrec init-config $(CONFIG); fi
	node bin/callrec serve --config $(CONFIG)

test: install build
	node scripts/run-tests.mjs

bench-cps: install build
	node bench/cps/run.mjs

clean:
	rm -rf dist .tap build build-native.log

# make bench-media  install, build, media benchmark: N concurrent calls with
#                   G.711 RTP both ways through callrec (bench/media; needs gcc,
#                   and libssl-dev for SRTP variants: installed here as root).
#                   Quick run: BENCH_N=10,100 BENCH_REPEAT=1 BENCH_SECONDS=5 make bench-media
#                   SRTP beside plain: BENCH_VARIANTS=plain,srtp make bench-media
.PHONY: bench-media bench-media-deps
bench-media: install build bench-media-deps
	node bench/media/run.mjs

bench-media-deps:
	@if [ ! -f /usr/include/openssl/evp.h ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing libssl-dev (bench/media rtpload's SRTP)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y libssl-dev; \
	  else \
	    echo "libssl-dev missing (as root: apt-get install libssl-dev); SRTP variants of bench-media cannot run"; \
	  fi; \
	fi
