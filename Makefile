# The two commands a newcomer needs: `make demo` and `make test`.
# Both install what they need into .venv and build (or reuse) the local
# Kubernetes control plane under ~/.cache/growthrs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=
RELIABILITY_ARGS ?=
TOX_ENVS ?= lint,typecheck,unit,e2e

.PHONY: demo test bench reliability controlplane venv crds clean-cluster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The core and everything that depends on it in one pip call, so growthrs-core
# resolves to this checkout. The test kit brings the control plane tool.
PACKAGES := pyproject.toml plugins/growthrs_kwok/pyproject.toml plugins/growthrs_hetzner/pyproject.toml \
	testing/growthrs_testkit/pyproject.toml testing/hcloud_standin/pyproject.toml
$(BIN)/growthrs: $(BIN)/python $(PACKAGES)
	$(BIN)/pip install --quiet -e '.[test]' -e plugins/growthrs_kwok -e plugins/growthrs_hetzner \
		-e testing/growthrs_testkit -e testing/hcloud_standin
	@touch $@

$(BIN)/tox: $(BIN)/python
	$(BIN)/pip install --quiet 'tox>=4.11'

venv: $(BIN)/growthrs

## Build (or reuse) etcd, kube-apiserver, scheduler, controller-manager, kubectl and kwok.
controlplane: venv
	$(BIN)/python -m growthrs_testkit.controlplane build

## A local cluster autoscaling a real workload, with live progress.
demo: venv controlplane
	$(BIN)/python -m hack.demo $(DEMO_ARGS)

## Every test: lint, mypy --strict, unit, and end-to-end on a real local control plane.
test: $(BIN)/tox controlplane
	$(BIN)/tox run -e $(TOX_ENVS)

## Benchmarks: planner speed, reaction latency, scale-out/in, operator footprint, consolidation.
bench: venv controlplane
	$(BIN)/python -m bench $(BENCH_ARGS)

## GrowthRS side by side with Karpenter's KWOK provider (built once from Go modules, ~4 min
## cold), then Karpenter's own scheduling benchmark. ARGS=--smoke for a quick run. See BENCHMARKS.md.
.PHONY: bench-peer
bench-peer: venv controlplane
	$(BIN)/python -m bench.peer $(ARGS)
	$(BIN)/python -m bench.karpenter_scheduling $(filter --smoke,$(ARGS))

## Reliability trials (long, ~1 h): operator SIGKILLs, apiserver outages, provider faults,
## group edits, bad input; JSON in reliability/results/, figures into RELIABILITY.md.
reliability: venv controlplane
	$(BIN)/python -m reliability --write-doc $(RELIABILITY_ARGS)

## Regenerate crds/ from the models (a test fails when it is stale).
crds: venv
	rm -rf crds && GROWTHRS_DISABLED_PLUGINS=testplugin,broken $(BIN)/growthrs crds --output-dir crds

clean-cluster: venv
	$(BIN)/python -m growthrs_testkit.controlplane down --all

.PHONY: deploy-crds image chart-lint

## Copy crds/ into the Helm chart and the kustomize base (a test fails when they differ).
deploy-crds: crds
	rm -f deploy/chart/crds/*.yaml deploy/kustomize/crds/*.yaml
	cp crds/*.yaml deploy/chart/crds/
	cp crds/*.yaml deploy/kustomize/crds/

## The operator image (needs a container engine; none runs here). PROVIDERS="hetzner kwok" adds KWOK.
CONTAINER ?= docker
IMAGE ?= growthrs:0.1.0
PROVIDERS ?= hetzner
image:
	$(CONTAINER) build -f deploy/Dockerfile --build-arg PROVIDERS="$(PROVIDERS)" -t $(IMAGE) .

## Lint the Helm chart with the pinned helm.
chart-lint: controlplane
	$$($(BIN)/python -m growthrs_testkit.controlplane build | sed -n 's/^HELM=//p') lint --strict deploy/chart
