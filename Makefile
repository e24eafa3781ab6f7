# Gantry. `make setup` once on a fresh machine, then `make test`. Run `make help` for the rest.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
NPM ?= npm
NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)

.PHONY: help setup build typecheck lint test crds crds-check validate demo bench bench-api clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## Install everything the project needs (Node packages from package-lock.json)
	@if [ "$(NODE_MAJOR)" -lt 20 ]; then echo "Node.js >= 20 is required (found: $$(node --version 2>/dev/null || echo none))" >&2; exit 1; fi
	$(NPM) ci --no-audit --no-fund

build: ## Compile the TypeScript packages to dist/
	$(NPM) run build

typecheck: ## Type-check every package, test and benchmark
	$(NPM) run typecheck

lint: typecheck ## ESLint and the type checker
	$(NPM) run lint

crds: ## Regenerate crds/llmtrainingjob.yaml and docs/api.md from the zod schema
	$(NPM) run crds

crds-check: ## Fail if the committed CRD or API docs differ from the schema
	$(NPM) run crds:check

test: crds-check ## Run the whole test suite
	$(NPM) test

validate: ## Validate the example jobs offline, as the operator will
	npx tsx crds/src/cli/validate.ts examples/*.yaml

demo: validate ## Today: validates the examples. The end-to-end training run arrives with the end-to-end issue.
	@echo "demo: the example jobs above are valid LLMTrainingJobs; the local cluster, operator and trainer are not built yet."

bench: bench-api ## Run every benchmark

bench-api: build ## Validation throughput: parseJob against the bare schema
	npx tsx bench/api/validate.bench.ts

clean: ## Remove build outputs
	rm -rf crds/dist crds/tsconfig.tsbuildinfo
