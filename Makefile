# Thin entry points; the real work is in infra/scripts/. `make` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

SCRIPTS := infra/scripts
# aws-sam-cli and cargo-lambda live in their own venv (kept apart from moto's pins in .venv).
TOOLS_VENV := .local/sam-venv

BUILD_TARGETS := build-LoginFunction build-StripeWebhookFunction build-ReminderCronFunction build-EmailRetryFunction
.PHONY: $(BUILD_TARGETS) help test lint lint-sam services-up services-down dev build sam-build bench fmt check tools-venv model-deep lambda-smoke bench-lambda

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

build: tools-venv ## Release arm64 binaries of the four functions, one workspace build (target/lambda/)
	$(SCRIPTS)/lambda-build.sh

# sam needs a region but no credentials. template.yaml builds every function with
# `BuildMethod: makefile`, in source (samconfig.toml): sam calls build-<LogicalId> below with
# ARTIFACTS_DIR, and all four share one `cargo lambda build --release --arm64` (docs/DEPLOY.md).
sam-build: tools-venv ## sam build of template.yaml (one arm64 release build for all four)
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" AWS_REGION="$${AWS_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0 \
		sam build --build-in-source

build-LoginFunction:
	$(SCRIPTS)/lambda-build.sh login "$(ARTIFACTS_DIR)"
build-StripeWebhookFunction:
	$(SCRIPTS)/lambda-build.sh stripe-webhook "$(ARTIFACTS_DIR)"
build-ReminderCronFunction:
	$(SCRIPTS)/lambda-build.sh reminder-cron "$(ARTIFACTS_DIR)"
build-EmailRetryFunction:
	$(SCRIPTS)/lambda-build.sh email-retry "$(ARTIFACTS_DIR)"

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

bench-lambda: ## Release binaries under a Runtime API emulator vs hello world (ARM64=1: arm64 sizes too)
	$(SCRIPTS)/bench-lambda.sh

fmt: ## Format the code
	cargo fmt --all

check: ## Fast type check of everything
	cargo check --workspace --all-targets
