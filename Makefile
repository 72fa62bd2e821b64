# Trellis: a service mesh control plane for Kubernetes. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
DEVCLUSTER := tools/devcluster/devcluster
export KUBECONFIG ?= $(CURDIR)/.devcluster/kubeconfig

.PHONY: help setup build lint test test-unit test-integration golden demo cluster-up cluster-down deploy bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

setup: ## install everything (system packages, npm deps, devcluster binaries); idempotent
	@scripts/setup.sh

build: setup ## compile the TypeScript (dist/); Envoy's proto types and the CRD schemas are generated first
	@scripts/gen-xds-types.sh
	@node scripts/gen-crd-schemas.js
	@npx tsc -p tsconfig.json

lint: setup ## ESLint and the type check
	@scripts/gen-xds-types.sh
	@node scripts/gen-crd-schemas.js
	@npx eslint . && npx tsc -p tsconfig.json --noEmit

test: build ## all unit, integration and e2e tests on the devcluster; ends with "tests: N passed, M failed"
	@scripts/test.sh

test-unit: build ## only the unit tests (no cluster needed)
	@node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects unit

test-integration: build ## only the integration tests (starts the devcluster if needed)
	@scripts/test.sh --selectProjects integration

golden: ## rewrite the expected files of the golden translation cases (test/fixtures/golden/); review the diff
	@UPDATE_GOLDEN=1 node --experimental-vm-modules node_modules/jest/bin/jest.js test/unit/translate-golden.test.ts --selectProjects unit

demo: build ## start the devcluster, deploy the demo and show traffic
	@scripts/demo.sh

cluster-up: build ## start the devcluster (builds what is missing; the second start takes seconds)
	@$(DEVCLUSTER) up

cluster-down: ## stop the devcluster and remove everything it created
	@$(DEVCLUSTER) down

deploy: build ## install Trellis into the running devcluster
	@scripts/deploy.sh

bench: build ## run the benchmarks in bench/ (results go to BENCHMARKS.md by hand)
	@scripts/bench.sh

clean: ## remove build output (keeps the binary cache)
	@rm -rf dist coverage
