#!/usr/bin/env bash
# The single test command: format check, clippy, local services, the test suite, template lint
# (cfn-lint, sam validate --lint).
# Fails fast; extra arguments go to the test runner, e.g. `infra/scripts/test.sh -E 'test(claim)'`.
# Services this run starts are stopped on exit; services that were already running are reused
# and left running.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

SERVICES="$REPO/infra/scripts/services.sh"
STARTED_FILE="$(mktemp)" # names of the services this run started (filled by services.sh)

# --- step bookkeeping: a banner per step, elapsed seconds printed at the end ---------------------
STEP_NAMES=()
STEP_TIMES=()
CURRENT=""
STEP_START=$SECONDS

end_step() {
    [[ -n "$CURRENT" ]] || return 0
    STEP_NAMES+=("$CURRENT")
    STEP_TIMES+=("$((SECONDS - STEP_START))s${1:+  $1}")
    CURRENT=""
}

step() {
    end_step
    CURRENT="$1"
    STEP_START=$SECONDS
    banner "$1"
}

on_exit() {
    local rc=$?
    end_step "FAILED (exit $rc)"
    # Stop only what this run started.
    stop_recorded "$STARTED_FILE"

    banner "elapsed"
    local i
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-44s %s\n' "${STEP_NAMES[$i]}" "${STEP_TIMES[$i]}" >&2
    done
    printf '  %-44s %ss\n' "total" "$SECONDS" >&2
    if ((rc == 0)); then echo "all checks passed" >&2; else echo "FAILED (exit $rc)" >&2; fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. formatting -------------------------------------------------------------------------------
step "1/5 cargo fmt --check"
cargo fmt --all -- --check </dev/null

# --- 2. lints ------------------------------------------------------------------------------------
locked=()
[[ -f Cargo.lock ]] && locked=(--locked)
step "2/5 cargo clippy -D warnings"
cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings </dev/null

# --- 3. local services (moto, redis), reused when already running -------------------------------
step "3/5 local services"
"$SERVICES" start --record "$STARTED_FILE"
# shellcheck source=/dev/null
source "$STATE/env"

# --- 4. tests ------------------------------------------------------------------------------------
# The build of the workspace tests also builds the four function binaries (their crates have
# integration tests), which tests/tests/lambda_runtime.rs runs under its Runtime API emulator.
if cargo nextest --version >/dev/null 2>&1; then
    step "4/5 cargo nextest run"
    cargo nextest run --workspace --no-fail-fast "$@" </dev/null
else
    step "4/5 cargo test (fallback)"
    warn "cargo-nextest is not installed; falling back to cargo test (cargo install cargo-nextest --locked)"
    cargo test --workspace --no-fail-fast "$@" </dev/null
fi

# --- 5. template lint ----------------------------------------------------------------------------
step "5/5 cfn-lint + sam validate --lint"
[[ -f template.yaml ]] || die "template.yaml not found in $REPO"
"$VENV/bin/cfn-lint" template.yaml </dev/null
# aws-sam-cli lives in its own venv (Makefile `tools-venv`); installed once (~1-2 min), offline after.
[[ -x "$REPO/.local/sam-venv/bin/sam" ]] || make -s -C "$REPO" tools-venv </dev/null
SAM_CLI_TELEMETRY=0 AWS_REGION="${AWS_REGION:-us-east-1}" \
    "$REPO/.local/sam-venv/bin/sam" validate --lint --template-file template.yaml </dev/null

end_step
