# tllm — the two set-up commands of the README:
#   make train   installs what is missing, builds (release) and trains the default model
#   make test    installs what is missing, builds and runs the whole test suite
# Both run as root on a fresh Debian/Ubuntu machine with the Swift 6 toolchain on PATH.

SWIFT      ?= swift
DEBS       := libopenblas-dev libutf8proc-dev
TRAIN_ARGS ?= --params 10M
TLLM       := .build/release/tllm

.PHONY: train test deps build bench-gemm clean

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product tllm

train: build
	$(TLLM) train $(TRAIN_ARGS)

test: deps
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build

bench-gemm: build
	$(TLLM) bench gemm

clean:
	rm -rf .build
