# Gantry. `make setup` once on a fresh machine, then `make test`. Run `make help` for the rest.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
NPM ?= npm
NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)

.PHONY: help setup build typecheck lint test test-unit test-integration crds crds-check validate demo bench bench-api bench-operator bench-dataloader bench-dataloader-memory bench-dataloader-tokenize bench-trainer bench-memory bench-peft bench-inference bench-parallel \
	cluster-deps cluster-build cluster-up cluster-down cluster-status operator clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install everything: Node packages, system packages, and the local control plane (cached build)
	@if [ "$(NODE_MAJOR)" -lt 20 ]; then echo "Node.js >= 20 is required (found: $$(node --version 2>/dev/null || echo none))" >&2; exit 1; fi
	$(NPM) ci --no-audit --no-fund
	$(MAKE) cluster-deps cluster-build

cluster-deps: ## Install redis-server, openssl, curl from Debian when missing
	bash test/cluster/install-deps.sh

cluster-build: ## Build kube-apiserver, controller-manager, scheduler, kubectl, etcd, KWOK, helm, versitygw and Karpenter's KWOK provider (cached outside the clone)
	bash test/cluster/build.sh >/dev/null
	bash test/cluster/build-karpenter.sh >/dev/null

cluster-up: ## Start the local control plane, Redis and S3; writes .gantry/kubeconfig and .gantry/env
	bash test/cluster/cluster.sh up

cluster-down: ## Stop everything cluster-up started and remove its state
	bash test/cluster/cluster.sh down

cluster-status: ## Say which parts of the local cluster run
	bash test/cluster/cluster.sh status

build: ## Compile the TypeScript packages to dist/
	$(NPM) run build

typecheck: ## Type-check every package, test and benchmark
	$(NPM) run typecheck

lint: typecheck ## ESLint and the type checker
	$(NPM) run lint

crds: ## Regenerate crds/llmtrainingjob.yaml and docs/api.md from the zod schema
	$(NPM) run crds
	npx tsx helm/cli/generate.ts

crds-check: ## Fail if the committed CRD or API docs differ from the schema
	$(NPM) run crds:check
	npx tsx helm/cli/generate.ts --check

test: crds-check ## Run the whole test suite (brings the local cluster up for the integration tests)
	$(NPM) test

test-unit: ## Only the unit tests (no services)
	npx vitest run --project unit

test-integration: ## Only the integration tests against the local cluster
	npx vitest run --project integration

operator: ## Run the operator in the foreground against $$KUBECONFIG (default: the local cluster); installs the CRD first
	KUBECONFIG=$${KUBECONFIG:-$(CURDIR)/.gantry/kubeconfig} GANTRY_INSTALL_CRD=true \
	GANTRY_LEADER_ELECTION=$${GANTRY_LEADER_ELECTION:-false} npx tsx operator/src/cli/operator.ts

validate: ## Validate the example jobs offline, as the operator will
	npx tsx crds/src/cli/validate.ts examples/*.yaml

demo: build ## The whole story on this machine: a 2-worker job trains, a spot node is reclaimed, it resumes exactly and succeeds
	npx tsx demo/demo.ts

bench: bench-api bench-operator bench-dataloader bench-dataloader-memory bench-dataloader-tokenize bench-trainer bench-memory bench-peft bench-inference bench-parallel ## Run every benchmark

bench-api: build ## Validation throughput: parseJob against the bare schema
	npx tsx bench/api/validate.bench.ts

bench-dataloader: build ## Dataloader throughput on the local S3 server against raw ranged GETs; start-up with 100,000 shards
	npx tsx bench/dataloader/throughput.bench.ts

bench-dataloader-memory: build ## Peak RSS streaming raw JSONL 10x the prefetch budget (no cluster needed)
	npx tsx bench/dataloader/memory.bench.ts

bench-dataloader-tokenize: build ## Tokenization: TokenizerPool on 1 and 2 threads against js-tiktoken and gpt-tokenizer called directly (no cluster needed)
	npx tsx bench/dataloader/tokenize.bench.ts

bench-trainer: build ## Trainer: step tokens/s and FLOP/s against a plain matmul; ring all-reduce against raw TCP; checkpoint save/restore, local and S3
	npx tsx bench/trainer/model.bench.ts
	npx tsx bench/trainer/allreduce.bench.ts
	npx tsx bench/trainer/checkpoint.bench.ts

bench-memory: build ## ZeRO stages x gradient checkpointing: per-rank memory, tokens/s, bytes communicated; largest model in a 1 GiB budget
	npx tsx bench/memory/memory.bench.ts

bench-peft: build ## LoRA r = 4, 8, 16 against full fine-tuning; distillation step overhead
	npx tsx bench/peft/peft.bench.ts
	npx tsx bench/peft/distill.bench.ts

bench-inference: build ## Generation with and without the KV cache per attention variant; speculative decoding; int8 and Wanda
	npx tsx bench/inference/inference.bench.ts

bench-parallel: build ## DP, TP, PP (GPipe, 1F1B) and combinations as one process per rank: tokens/s, bytes vs theory, params/rank, pipeline bubble vs theory
	npx tsx bench/parallel/parallel.bench.ts

bench-operator: build ## The operator on the local cluster: 100 jobs × 8 workers, writes, no-op resync, RSS at 1000 jobs
	npx tsx bench/operator/operator.bench.ts

clean: ## Remove build outputs
	rm -rf crds/dist crds/tsconfig.tsbuildinfo

# The Helm chart and the container images (helm/, operator/Dockerfile, trainer/Dockerfile; docs/operations.md).
.PHONY: helm-lint images
HELM ?= $(shell command -v helm 2>/dev/null || echo $(CURDIR)/.gantry/bin/helm)
DOCKER ?= docker
IMAGE_REGISTRY ?= ghcr.io/gantry-dev
# The chart's appVersion, which the chart uses as the operator image tag by default.
IMAGE_TAG ?= $(shell awk -F'"' '/^appVersion:/ {print $$2}' helm/gantry/Chart.yaml)

helm-lint: ## helm lint --strict the chart with its defaults and with every optional part on
	$(HELM) lint --strict helm/gantry
	$(HELM) lint --strict helm/gantry --set networkPolicy.enabled=true --set 'watchNamespaces={default}' --set metrics.serviceMonitor.enabled=true

images: ## Build the operator image and the trainer's cpu and cuda images (needs a Docker engine)
	@if ! command -v $(DOCKER) >/dev/null 2>&1 || ! $(DOCKER) info >/dev/null 2>&1; then \
	  echo "make images: no Docker engine here ($(DOCKER) is missing or its daemon is not running). The Dockerfiles are" >&2; \
	  echo "kept correct by review; build them on a machine with Docker (docs/operations.md, Images)." >&2; exit 1; fi
	$(DOCKER) build -f operator/Dockerfile -t $(IMAGE_REGISTRY)/operator:$(IMAGE_TAG) .
	$(DOCKER) build -f trainer/Dockerfile --target cpu -t $(IMAGE_REGISTRY)/trainer:$(IMAGE_TAG) .
	$(DOCKER) build -f trainer/Dockerfile --target cuda -t $(IMAGE_REGISTRY)/trainer:$(IMAGE_TAG)-cuda .
