# Thin entry points; the real work is in infra/scripts/. `make` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

SCRIPTS := infra/scripts
# aws-sam-cli and cargo-lambda live in their own venv (kept apart from moto's pins in .venv).
TOOLS_VENV := .local/sam-venv

.PHONY: help test lint lint-sam services-up services-down dev build sam-build bench fmt check tools-venv model-deep lambda-smoke

help: ## Show this list
	@echo "Targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: ## The single test command: fmt, clippy, services, tests, cfn-lint
	$(SCRIPTS)/test.sh

lint: ## cargo fmt --check, clippy -D warnings, cfn-lint + sam validate --lint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets $(if $(wildcard Cargo.lock),--locked) -- -D warnings
	$(SCRIPTS)/services.sh tools
	.venv/bin/cfn-lint template.yaml
	$(MAKE) -s lint-sam

lint-sam: tools-venv ## sam validate --lint template.yaml (offline, a few seconds)
	SAM_CLI_TELEMETRY=0 AWS_REGION="$${AWS_REGION:-us-east-1}" \
		$(TOOLS_VENV)/bin/sam validate --lint --template-file template.yaml

services-up: ## Start moto + redis and provision them (then: source .local/services/env)
	$(SCRIPTS)/services.sh start

services-down: ## Stop the services started by services-up
	$(SCRIPTS)/services.sh stop

dev: ## Run the local stack (bundle dev)
	cargo run -p infra --bin bundle -- dev

# Needs cargo-lambda on PATH (`pip install cargo-lambda`, which brings zig for the arm64
# cross build); `make tools-venv` installs it into $(TOOLS_VENV), which is used when present.
build: ## Release arm64 Lambda packages (cargo lambda build)
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" cargo lambda build --release --arm64

# sam needs a region but no credentials; its Rust builder (cargo-lambda) is a beta feature.
# Cross-compiles every function for arm64 in release mode: slow (see docs/DEPLOY.md); set
# CARGO_TARGET_DIR to keep its artifacts apart from the debug target dir.
sam-build: tools-venv ## sam build of template.yaml (aws-sam-cli from a venv; slow)
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" AWS_REGION="$${AWS_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0 \
		sam build --beta-features

lambda-smoke: ## Every sample event through cargo lambda watch + invoke (not in make test)
	$(SCRIPTS)/lambda-smoke.sh

tools-venv: ## Install aws-sam-cli + cargo-lambda into .local/sam-venv
	@test -x $(TOOLS_VENV)/bin/sam -a -x $(TOOLS_VENV)/bin/cargo-lambda || { \
		python3 -m venv $(TOOLS_VENV) && \
		$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli cargo-lambda; }

# The protocol models run at their bounded size in `make test`; this runs the deeper bounds
# (the #[ignore]d model tests; see docs/RELIABILITY.md#model-checking for sizes and times).
model-deep: ## Model checks at deeper bounds (minutes)
	cargo nextest run -p shared -p reminder-cron -p email-retry -p stripe-webhook \
		-E 'test(/^claims::model::/) | binary(/^model_/)' --run-ignored ignored-only --no-capture

bench: ## Benchmarks
	cargo bench --workspace

fmt: ## Format the code
	cargo fmt --all

check: ## Fast type check of everything
	cargo check --workspace --all-targets
