# tokenhook: a Kubernetes operator for Okta token inline hooks.

# Image for both binaries (manager and hookserver).
IMG ?= tokenhook:dev

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC into config/, and copy both into the Helm chart.
	$(CONTROLLER_GEN) rbac:roleName=tokenhook-manager-role crd:crdVersions=v1 paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/sync-chart.sh

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests ## Regenerate code, CRDs, RBAC and chart copies; fail if anything changed.
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "Generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- api config charts; git --no-pager diff --stat -- api config charts; exit 1; fi
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

.PHONY: test
test: lint verify vet helm-lint test-unit test-envtest test-fuzz test-node ## Everything CI runs: lint, verify, chart lint, unit, envtest, short fuzz runs and the real node.

.PHONY: test-unit
test-unit: ## Unit tests (no control plane), with the race detector.
	go test -race -count=1 $$(go list ./... | grep -v -e /controllers -e /test/)

.PHONY: test-envtest
test-envtest: envtest helm kustomize ## Integration tests against a real kube-apiserver and etcd (controller, CRD, packaging, e2e).
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" HELM="$(HELM)" KUSTOMIZE="$(KUSTOMIZE)" \
		go test -count=1 -timeout 30m ./controllers/... $$(go list ./test/... | grep -v /test/node)

.PHONY: test-node
test-node: helm ## The real-node tests: helm install of the image on a real kubelet, containerd and kube-proxy (root; installs Debian's packages when missing; tears everything down).
	$(MAKE) --no-print-directory image-tarball IMG=tokenhook:dev IMAGE_TARBALL=bin/tokenhook-image.tar
	HELM="$(HELM)" TOKENHOOK_IMAGE_TARBALL="$(CURDIR)/bin/tokenhook-image.tar" go test -count=1 -timeout 30m ./test/node/...; \
		rc=$$?; if [ "$$(id -u)" = 0 ]; then go run ./hack/node down || rc=1; fi; exit $$rc

# Fuzz budgets are execution counts, not durations: on Go 1.26 a duration
# -fuzztime races the coordinator's deadline and can fail with a bare
# "context deadline exceeded" and no crasher (golang/go#75804, fixed in 1.27).
# Each budget is a few seconds on 2 cores; -timeout still catches a hang.
FUZZ_EVENT_EXECS ?= 300000x
FUZZ_PATIENTS_EXECS ?= 200000x
.PHONY: test-fuzz
test-fuzz: ## Short coverage-guided fuzz runs over the hook's inputs.
	go test -run='^$$' -fuzz='^FuzzDecodeEvent$$' -fuzztime=$(FUZZ_EVENT_EXECS) -timeout=5m ./hookserver/protocol
	go test -run='^$$' -fuzz='^FuzzParsePatients$$' -fuzztime=$(FUZZ_PATIENTS_EXECS) -timeout=5m ./hookserver/patients

.PHONY: bench-operator
bench-operator: envtest ## The operator at 1, 10, 100 and 300 TokenHooks over simulated, rate-limited Okta orgs (about 25 minutes).
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" go run ./hack/benchoperator $(BENCH_OPERATOR_ARGS)

.PHONY: bench-hook
bench-hook: ## Load benchmark of the hook server against a trivial server, on loopback (BENCH_HOOK_ARGS=-tls: over TLS).
	go run ./hack/benchhook $(BENCH_HOOK_ARGS)

##@ Demo

.PHONY: demo
demo: envtest ## The main job: the whole scenario on this machine (control plane, Okta simulator, operator, hook server). DEMO_ARGS=-keep keeps it running; DEMO_ARGS=-oauth authenticates the hook calls with OAuth 2.0.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" go run ./hack/demo $(DEMO_ARGS)

##@ Build

.PHONY: build
build: generate kubectl-tokenhook ## Build the manager, hookserver, oktasim and kubectl-tokenhook binaries into bin/.
	go build -o bin/manager ./cmd/manager
	go build -o bin/hookserver ./cmd/hookserver
	go build -o bin/oktasim ./cmd/oktasim

.PHONY: kubectl-tokenhook
kubectl-tokenhook: ## Build the kubectl plugin into bin/kubectl-tokenhook (with bin/ on your PATH: kubectl tokenhook status|preview).
	go build -o bin/kubectl-tokenhook ./cmd/kubectl-tokenhook

.PHONY: run
run: manifests generate ## Run the manager from your host against the cluster in your kubeconfig (RUN_ARGS="--leader-elect --leader-election-namespace=tokenhook-system" to take part in leader election).
	go run ./cmd/manager $(RUN_ARGS)

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install the CRD into the cluster in your kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall the CRD. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator to the cluster in your kubeconfig.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy the operator. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Packaging

# The daemonless image tarball (hack/image): both binaries FROM SCRATCH with
# the host's CA bundle, as no base image can be pulled offline.
IMAGE_TARBALL ?= bin/tokenhook-image.tar
# Image platforms, comma-separated; several make a multi-platform image.
PLATFORMS ?= linux/$(shell go env GOARCH)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
# Every timestamp in the image: the last commit's time, so rebuilds are reproducible.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
CONTAINER_TOOL ?= docker

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart (strict) with its defaults and with every charts/tokenhook/ci/*-values.yaml.
	$(HELM) lint --strict charts/tokenhook
	@for f in charts/tokenhook/ci/*-values.yaml; do \
		echo "$(HELM) lint --strict charts/tokenhook -f $$f"; $(HELM) lint --strict charts/tokenhook -f "$$f" || exit 1; done

.PHONY: helm-package
helm-package: helm ## Package the Helm chart into bin/charts/.
	$(HELM) package charts/tokenhook --destination bin/charts

.PHONY: image-tarball
image-tarball: ## Build the image without a container engine: an OCI tarball (IMAGE_TARBALL, default bin/tokenhook-image.tar) named IMG.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) go run ./hack/image --output $(IMAGE_TARBALL) --tag $(IMG) \
		--platform $(PLATFORMS) --version $(VERSION) --revision "$(REVISION)"

.PHONY: docker-build
docker-build: ## Build the image IMG from the Dockerfile with a container engine (CONTAINER_TOOL=docker or podman).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the image IMG.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: docker-buildx
docker-buildx: ## Build and push IMG for every platform in PLATFORMS with docker buildx.
	docker buildx build --platform $(PLATFORMS) --tag $(IMG) --push .

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool Binaries
KUBECTL ?= kubectl
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
HELM ?= $(LOCALBIN)/helm
KUSTOMIZE ?= $(LOCALBIN)/kustomize

## Tool Versions
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v3.22.0
# kustomize v5.8.3 needs Go 1.27.
KUSTOMIZE_VERSION ?= v5.8.2
# The envtest control plane; must match hack/tools/go.mod.
ENVTEST_K8S_VERSION ?= 1.37.2

.PHONY: envtest
envtest: ## Provide kube-apiserver, etcd and kubectl (download, or build from the Go module proxy) and print their folder.
	@K8S_VERSION=$(ENVTEST_K8S_VERSION) hack/envtest.sh

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: helm
helm: $(HELM) ## Download helm locally if necessary.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION),-ldflags=-X=helm.sh/helm/v3/internal/version.version=$(HELM_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
# $4 - extra go install flags
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) go install $(4) $${package} ;\
mv $(1) $(1)-$(3) ;\
} ;\
ln -sf $$(realpath $(1)-$(3)) $(1)
endef
