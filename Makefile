# WARP customer API and HubSpot sync. `make dev` runs the system locally, `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/warp
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
VENV := .venv
VENV_SAM := .venv-sam
MOTO_PACKAGES := moto[server]==5.2.*
SAM_PACKAGES := aws-sam-cli cfn-lint
ROLE ?= editor
CARGO ?= cargo
WARP := $(CARGO) run --quiet -p warp-cli --bin warp --
OFFLINE_AWS := AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null SAM_CLI_TELEMETRY=0

.PHONY: help dev test lint fmt postgres venv venv-sam migrate token hubspot-setup sandbox validate bench clean-test-dbs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

dev: postgres ## run the whole system locally (API + webhook on :3000, sandbox on :3001)
	$(WARP) dev

test: lint postgres venv validate ## fmt, clippy, template lint and every test against real Postgres and moto
	WARP_MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server $(CARGO) test --workspace --all-targets
	@$(MAKE) --no-print-directory clean-test-dbs

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

postgres: ## start the local PostgreSQL when it is down
	@infra/scripts/ensure-postgres.sh

venv: ## Python venv with moto's server (AWS SQS and Secrets Manager, locally)
	@infra/scripts/ensure-venv.sh $(VENV) '$(MOTO_PACKAGES)'

venv-sam: ## Python venv with SAM CLI and cfn-lint (offline template checks)
	@infra/scripts/ensure-venv.sh $(VENV_SAM) $(SAM_PACKAGES)

migrate: postgres ## create (if missing) and migrate the database at DATABASE_URL
	$(WARP) migrate

token: ## print a dev JWT: make token ROLE=viewer|editor|admin
	@$(WARP) token --role $(ROLE)

hubspot-setup: postgres ## create the warp_* properties in HubSpot (HUBSPOT_BASE_URL, or a running sandbox)
	$(WARP) hubspot-setup

sandbox: ## run the HubSpot sandbox alone on HUBSPOT_SANDBOX_ADDR (127.0.0.1:3001)
	$(CARGO) run --quiet -p hubspot-sandbox --bin hubspot-sandbox

validate: venv-sam ## cfn-lint and sam validate --lint, offline
	$(OFFLINE_AWS) $(VENV_SAM)/bin/cfn-lint template.yaml
	$(OFFLINE_AWS) $(VENV_SAM)/bin/sam validate --lint --region us-east-1 --template-file template.yaml

bench: postgres ## every benchmark: target/bench/results.json and a markdown table
	infra/bench/bench.sh

clean-test-dbs: ## drop databases left by test runs (ones still in use are kept)
	@psql "$(TEST_DATABASE_URL)" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'warp_test_%'" 2>/dev/null \
	  | while read -r db; do psql "$(TEST_DATABASE_URL)" -qc "DROP DATABASE IF EXISTS \"$$db\"" >/dev/null 2>&1 || true; done

# --- Lambda packaging and deployment ---------------------------------------------------------
# cargo-lambda and zig get their own venv: ensure-venv.sh keys a venv on its full package list.
VENV_LAMBDA := .venv-lambda
LAMBDA_PACKAGES := cargo-lambda ziglang
LAMBDA_FUNCTIONS := customer-api sync-worker hubspot-webhook
LAMBDA_DIR := target/lambda
LAMBDA_PATH := PATH="$(CURDIR)/$(VENV_LAMBDA)/bin:$$PATH"
SAMCONFIG := $(CURDIR)/infra/samconfig.toml

.PHONY: venv-lambda build sizes deploy

venv-lambda: ## Python venv with cargo-lambda and zig (cross-linking, no cross gcc needed)
	@infra/scripts/ensure-venv.sh $(VENV_LAMBDA) $(LAMBDA_PACKAGES)

build: venv-lambda ## release arm64 bootstraps of the three functions in target/lambda/<name>/
	rustup target add aarch64-unknown-linux-gnu
	$(LAMBDA_PATH) cargo lambda build --release --arm64 --lambda-dir $(LAMBDA_DIR) \
	  $(addprefix --bin ,$(LAMBDA_FUNCTIONS))
	@$(MAKE) --no-print-directory sizes

sizes: ## size of each built bootstrap (bytes, and gzip -9 as a stand-in for the zip)
	@for name in $(LAMBDA_FUNCTIONS); do \
	  file=$(LAMBDA_DIR)/$$name/bootstrap; \
	  if [ -f "$$file" ]; then \
	    printf '%-16s %10d bytes  %10d gzipped  (%s)\n' "$$name" "$$(stat -c %s "$$file")" \
	      "$$(gzip -9 -c "$$file" | wc -c)" "$$(file -b "$$file" | cut -d, -f1-2)"; \
	  else echo "$$name: not built (make build)"; fi; \
	done

deploy: venv-lambda venv-sam validate ## sam build + sam deploy (guided the first time; answers kept in infra/samconfig.toml)
	$(LAMBDA_PATH) $(VENV_SAM)/bin/sam build --template-file template.yaml
	@if [ -f "$(SAMCONFIG)" ]; then \
	  $(VENV_SAM)/bin/sam deploy --config-file "$(SAMCONFIG)"; \
	else \
	  $(VENV_SAM)/bin/sam deploy --guided --config-file "$(SAMCONFIG)" --capabilities CAPABILITY_IAM; \
	fi
