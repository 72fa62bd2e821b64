# Trellis: a service mesh control plane for Kubernetes. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
DEVCLUSTER := tools/devcluster/devcluster
export KUBECONFIG ?= $(CURDIR)/.devcluster/kubeconfig
# Tag of the images `make images` builds (trellis/controller, trellis/proxy, trellis/echo).
export IMAGE_TAG ?= dev

.PHONY: help deps generate setup build lint test test-unit test-integration golden demo cluster-up cluster-down deploy bench bench-vs-istiod images test-images clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

# Building, linting and the unit tests need Node.js alone (deps, generate, build); what needs root
# (system packages, the devcluster's binaries) is setup, and only the targets that run the
# devcluster depend on it.
deps: ## install the npm dependencies when node_modules does not match package-lock.json
	@scripts/deps.sh

generate: deps ## generate Envoy's proto types (src/xds/generated/) and the CRD schemas
	@scripts/gen-xds-types.sh
	@node scripts/gen-crd-schemas.js

# deps first: setup.sh installs them too, and two npm installs must not run at once under -j.
setup: deps ## install everything (as root: system packages, npm deps, devcluster binaries); idempotent
	@scripts/setup.sh

build: generate ## compile the TypeScript and the sidecar agent (Go) into dist/ (no root)
	@npx tsc -p tsconfig.json
	@scripts/build-agent.sh

lint: generate ## ESLint and the type check; go vet and gofmt for the agent (no root)
	@npx eslint . && npx tsc -p tsconfig.json --noEmit && npx tsc -p web/tsconfig.json
	@cd src/sidecar/agent && go vet ./... && unformatted="$$(gofmt -l .)" && { [[ -z "$$unformatted" ]] || { echo "gofmt: $$unformatted" >&2; exit 1; }; }

test: setup build ## all unit, integration and e2e tests on the devcluster; ends with "tests: N passed, M failed"
	@scripts/test.sh

test-unit: build ## only the unit tests, TypeScript's and the agent's Go (no cluster, no root; Node.js, Go and the openssl command)
	@command -v openssl >/dev/null || { echo "test-unit: the openssl command is required (tests check certificates with it)" >&2; exit 1; }
	@node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects unit
	@cd src/sidecar/agent && go test ./...

test-integration: setup build ## only the integration tests (starts the devcluster if needed)
	@scripts/test.sh --selectProjects integration

golden: generate ## rewrite the expected files of the golden translation cases (test/fixtures/golden/); review the diff
	@UPDATE_GOLDEN=1 node --experimental-vm-modules node_modules/jest/bin/jest.js test/unit/translate-golden.test.ts --selectProjects unit

demo: setup build ## start the devcluster, deploy the demo and show traffic
	@scripts/demo.sh

cluster-up: setup build ## start the devcluster (builds what is missing; the second start takes seconds)
	@$(DEVCLUSTER) up

cluster-down: ## stop the devcluster and remove everything it created
	@$(DEVCLUSTER) down

deploy: setup build ## install Trellis into the running devcluster
	@scripts/deploy.sh

bench: setup build ## run the benchmarks in bench/ (results go to BENCHMARKS.md by hand)
	@scripts/bench.sh

# Needs neither Node nor setup: everything is built inside the images' build stage.
images: ## build the images trellis/{controller,proxy,echo}:$(IMAGE_TAG) (docker; without a daemon buildah, as root)
	@scripts/images.sh

test-images: deps ## build the images (make images, buildah) and check them: contents, users, each entrypoint run
	@node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects images

# Needs the devcluster with Trellis installed (make deploy); CLIENTS=100,1000 by default.
bench-vs-istiod: build ## Trellis and istiod (built from Istio's Go module) side by side on the devcluster
	@bench/vs-istiod/build-istiod.sh >/dev/null
	@node dist/bench/vs-istiod/main.js --clients $${CLIENTS:-100,1000}

clean: ## remove build output (keeps the binary cache)
	@rm -rf dist coverage
