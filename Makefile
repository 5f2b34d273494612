# pipe's build, test and benchmark entry points. Run `make help` for the list.
SHELL := /bin/bash
GO ?= go
PREFIX ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/pipe
# The container init (cmd/pipe-init), embedded in pipe by the pipeinit tag.
INIT := cmd/pipe/pipe-init.bin

# Tests that start containers need root; they run when PIPE_TEST_ROOT=1 and
# then fail rather than skip when they cannot.
ifeq ($(shell id -u),0)
export PIPE_TEST_ROOT ?= 1
endif

# Concurrent code is tested under the race detector; the container runtime is
# tested without it and without cgo, exactly as the release binary is built
# (its re-executed init must stay small inside memory limits, and with cgo
# capabilities cannot be dropped on every thread at once).
RACE_PKGS := $(wildcard ./pipeline ./cache ./executor ./kube)
PLAIN_PKGS := $(filter-out $(RACE_PKGS),$(shell $(GO) list ./... 2>/dev/null | sed 's|github.com/pipe-run/pipe|.|'))

.PHONY: help build install test test-k8s test-vm lint bench fuzz images clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/pipe (static, no cgo), with its small container init embedded
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(INIT) ./cmd/pipe-init
	CGO_ENABLED=0 $(GO) build -trimpath -tags pipeinit -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/pipe

install: build ## install pipe into $(PREFIX)/bin, the packages it needs, and its local images
	./scripts/install-deps
	install -m 0755 $(BIN) $(PREFIX)/bin/pipe
	./scripts/build-images $(PREFIX)/bin/pipe

test: ## run every test (as root: the container tests too)
	CGO_ENABLED=0 $(GO) test -count=1 $(PLAIN_PKGS)
	$(if $(RACE_PKGS),$(GO) test -race -count=1 $(addsuffix /...,$(RACE_PKGS)))

test-k8s: ## run the TestKube* tests on a real single-node Kubernetes cluster it builds, starts and stops (root; see scripts/k8s/README.md)
	GO=$(GO) ./scripts/k8s/test

test-vm: ## run the root tests and real pipe runs in qemu guests: Linux 6.1 with cgroup v2 and with v1 (root; see scripts/vm/README.md)
	./scripts/test-vm $(CELLS)

lint: ## gofmt and go vet (also for a non-Linux target)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...

bench: build ## compare pipe with its peers side by side (installs them)
	./scripts/bench

fuzz: ## run every fuzz target briefly
	./scripts/fuzz $(or $(FUZZTIME),20s)

clean:
	rm -rf bin $(INIT)
