# latchkey — Azure Key Vault secrets, certificates and keys for Kubernetes workloads.
#
# Everything a fresh Debian machine needs is fetched or built by these targets
# and cached under .cache/ (ignored): Kubernetes components and tools are built
# from the Go module proxy once per pinned version (hack/tools/*), Debian
# packages for the e2e node are installed on first use.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
TOOL := hack/tool.sh
BIN := bin
# Packages whose tests need no cluster of their own; test/e2e is built only with the e2e tag.
PKGS := ./...
GOTEST_FLAGS ?= -race -count=1
E2E_FLAGS ?= -count=1 -timeout 30m

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Develop

# make dev builds only what it runs: the control plane and kubectl, plus the
# kubelet and kube-proxy with NODE=1 (helm is for the tests).
DEV_TOOLS = etcd kube-apiserver kubectl kube-controller-manager kube-scheduler $(if $(NODE),kubelet kube-proxy)

.PHONY: dev
dev: ## Run latchkey locally: no Azure, no cluster, no root (NODE=1 adds a real node: root; asks before installing Debian packages).
	@$(if $(NODE),hack/node-packages.sh --ask)
	@# Built first, then exec'd: Ctrl-C reaches the program, which stops
	@# everything and exits 0, and make reports success.
	@CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/dev ./hack/dev
	@$(TOOL) $(DEV_TOOLS) >/dev/null
	@$(call tool_env,$(DEV_TOOLS)) exec $(BIN)/dev $(if $(NODE),--node)

.PHONY: generate
generate: ## Regenerate deepcopy code and the CRD (and its copy in the chart) from the API types' markers.
	@cg=$$($(TOOL) controller-gen); tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$$cg object paths=./api/...; \
	$$cg crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=$$tmp; \
	$(GO) run ./hack/crdversions -in $$tmp/spv.no_azurekeyvaultsecrets.yaml \
	  -out config/crd/spv.no_azurekeyvaultsecrets.yaml -versions v1alpha1,v1,v2alpha1
	@# The chart installs a copy (Helm reads only files inside the chart).
	@cp config/crd/spv.no_azurekeyvaultsecrets.yaml charts/latchkey/crds/

.PHONY: build
build: ## Build every command into bin/.
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

.PHONY: images
images: ## Build the images (linux/amd64, arm64) reproducibly, without Docker, into .cache/images/ (a release: VERSION=<internal/release.Version, the chart's appVersion>; else git describe).
	$(GO) run ./hack/images -out .cache/images $(if $(VERSION),-version $(VERSION))

##@ Test

.PHONY: test
test: kube-binaries docs-tools ## Unit and integration tests (a real kube-apiserver and etcd, the Key Vault emulator).
	$(kube_env) $(GO) test $(GOTEST_FLAGS) $(PKGS)

# Each fuzz target runs for FUZZTIME (a go test -fuzztime: 5s, 10000x).
FUZZTIME ?= 5s

.PHONY: fuzz
fuzz: kube-binaries ## Run every fuzz target in the tree for FUZZTIME each (default 5s), from its committed corpus (FUZZ=regexp picks some).
	@# hack/fuzz.sh finds the targets (every func FuzzXxx in a _test.go);
	@# some packages' TestMain starts an API server, hence kube_env.
	@$(kube_env) hack/fuzz.sh '$(FUZZTIME)' '$(FUZZ)'

E2E_STATE := $(CURDIR)/.cache/e2e

.PHONY: test-e2e
test-e2e: kube-binaries node-packages ## End-to-end tests on a real node (root; installs containerd, runc, CNI plugins).
	@# The suite tears its cluster down itself; the trap also covers a test
	@# binary killed by its timeout. On failure, the components' logs are shown.
	@# cert-manager (hack/tools/cert-manager) runs for the chart's certManager mode;
	@# kube-router's network policy controller (hack/tools/kube-router) enforces
	@# the install guide's NetworkPolicies in TestNetworkPolicyExample.
	@# Built as the images, the tools and `make lint`'s type-checking are (no
	@# cgo, -trimpath), the suite shares their compiled packages: after make
	@# verify, its build compiles only its test main.
	@$(TOOL) $(NODE_TOOLS) cert-manager kube-router >/dev/null
	@trap 'CGO_ENABLED=0 $(GO) run -trimpath ./hack/dev --teardown --state $(E2E_STATE)' EXIT; \
	LATCHKEY_CERT_MANAGER=$$($(TOOL) cert-manager) LATCHKEY_KUBE_ROUTER=$$($(TOOL) kube-router) $(kube_env) $(node_env) CGO_ENABLED=0 \
	  $(GO) test -trimpath -tags e2e $(E2E_FLAGS) ./test/e2e/... -args -e2e.state=$(E2E_STATE) || { \
	  for f in $(E2E_STATE)/logs/*.log; do echo "--- $$f (last 30 lines)"; tail -n 30 "$$f"; done; exit 1; }

.PHONY: bench
bench: kube-binaries ## Benchmarks against the targets of the product brief, each figure beside its target (BENCH=regexp picks some).
	@# Each benchmark measures once and reports; test/bench's TestMain starts
	@# the API server, the Key Vault emulator and the controller process.
	$(kube_env) $(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchtime=1x -count=1 -timeout 30m ./test/bench/
	@# The resolver: 500 pods of one Deployment asking at once (alone and
	@# beside a flood of forged tokens) and at 100/s, then its memory with
	@# 10,000 pods in labelled namespaces; files: 1,000 pods x 2 objects with
	@# refresh on, and 5 real refresh sidecars.
	$(kube_env) $(GO) test -run '^$$' -bench '$(or $(BENCH),ResolverRollout|FilesRefresh)' -benchtime=1x -count=1 -timeout 30m ./internal/resolver/
	@# HashiCorp Vault: logins and reads per refresh (100 resources, 10
	@# namespaces) and for a 500-pod rollout, at the real Vault's door.
	$(kube_env) $(GO) test -run '^$$' -bench '$(or $(BENCH),Vault)' -benchtime=1x -count=1 -timeout 10m ./internal/vaultkv/
	@# The in-container binary's start overhead (exec to exec, 10 placeholders;
	@# target < 50 ms beyond Key Vault round trips), averaged over 10 starts.
	$(if $(BENCH),,$(GO) test -run '^$$' -bench StartOverhead -benchtime=10x -count=1 ./cmd/latchkey-env/)

##@ Check

.PHONY: lint
lint: ## Run golangci-lint (pinned in hack/tools/golangci-lint).
	@# Its type-checking compiles every package it loads (go list -export)
	@# into GOCACHE. Compiled as the e2e suite, the images and the tools are
	@# (no cgo, -trimpath), those builds find the work done; with the
	@# default flags none of it was shared. No package of ours uses cgo.
	CGO_ENABLED=0 GOFLAGS="$$($(GO) env GOFLAGS) -trimpath" $$($(TOOL) golangci-lint) run --allow-serial-runners ./...

.PHONY: verify
verify: generate ## Fail if formatting, go.mod or generated files are out of date; then vet and lint.
	@git diff --exit-code -- api config charts/latchkey/crds || { echo "verify: generated files changed; commit the output of make generate"; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "verify: run gofmt -w"; exit 1; }
	$(GO) mod tidy -diff
	@# go vet's analyzers run inside golangci-lint (its govet linter, with the
	@# e2e tag too), which type-checks the tree once instead of twice.
	@$(MAKE) --no-print-directory lint

##@ Tools

# The programs the tests run, built once per version: etcd and the control
# plane (envtest, and devcluster without a node), kubectl, HashiCorp Vault and
# helm. Vault is named before helm, .ci/run's lane names helm first: on a cold
# run the step and the lane build the two at once instead of one waiting for
# the other's lock.
KUBE_TOOLS := etcd kube-apiserver kubectl kube-controller-manager kube-scheduler vault helm
# A real node's programs, which only the e2e suite runs: left out of
# KUBE_TOOLS, they are not built before `make test` can start (.ci/run's lane
# builds them while the tests run).
NODE_TOOLS := kubelet kube-proxy
.PHONY: kube-binaries
kube-binaries:
	@$(TOOL) $(KUBE_TOOLS) >/dev/null

# Paths handed to envtest (TEST_ASSET_*) and to the local cluster (LATCHKEY_*):
# $(call tool_env,TOOLS) builds each of TOOLS when the cache lacks it and
# exports its path.
env_var.etcd := TEST_ASSET_ETCD
env_var.kube-apiserver := TEST_ASSET_KUBE_APISERVER
env_var.kubectl := TEST_ASSET_KUBECTL
env_var.kubelet := LATCHKEY_KUBELET
env_var.kube-controller-manager := LATCHKEY_KUBE_CONTROLLER_MANAGER
env_var.kube-scheduler := LATCHKEY_KUBE_SCHEDULER
env_var.kube-proxy := LATCHKEY_KUBE_PROXY
env_var.helm := LATCHKEY_HELM
env_var.vault := LATCHKEY_VAULT
tool_env = $(foreach t,$(1),$(env_var.$(t))=$$($(TOOL) $(t)))
kube_env = $(call tool_env,$(KUBE_TOOLS))
node_env = $(call tool_env,$(NODE_TOOLS))

.PHONY: docs-tools
docs-tools: ## Install the Debian packages whose commands docs/ names (azure-cli, skopeo) when missing, for test/docs.
	@hack/docs-tools.sh

.PHONY: node-packages
node-packages: ## Install the Debian packages a real node needs (containerd, runc, CNI plugins) when missing.
	@hack/node-packages.sh

.PHONY: clean
clean: ## Remove bin/ and e2e state (keeps the tool cache).
	$(GO) run ./hack/dev --teardown --state $(E2E_STATE)
	rm -rf $(BIN) $(E2E_STATE)
