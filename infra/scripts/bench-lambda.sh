#!/usr/bin/env bash
# `make bench-lambda`: builds the four functions and a hello-world lambda_runtime binary
# (tests/hello-lambda) in release mode, in one cargo run, then runs the harness
# (tests/src/bin/bench_lambda) against the local services: init vs hello world, warm p50/p99,
# round trips per request, peak RSS, binary and zip sizes. The table goes to stdout; the
# figures in docs/PERFORMANCE.md come from it.
#
#   ARM64=1 make bench-lambda    also cross-builds the arm64 packages (cargo lambda build
#                                --release --arm64, cargo-lambda from the tools venv) and
#                                reports their sizes
#   COLD=N WARM=N                cold starts per binary (9) and invocations per function (100)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

SERVICES="$REPO/infra/scripts/services.sh"
STARTED_FILE="$(mktemp)"
trap 'stop_recorded "$STARTED_FILE"' EXIT

PACKAGES=(-p login -p stripe-webhook -p reminder-cron -p email-retry -p hello-lambda)
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

banner "release build (${PACKAGES[*]})"
cargo build --release --locked "${PACKAGES[@]}" </dev/null
ARM64_ARGS=()
if [[ "${ARM64:-0}" == 1 ]]; then
    banner "arm64 release build (cargo lambda build --release --arm64)"
    make -s -C "$REPO" tools-venv </dev/null
    PATH="$REPO/.local/sam-venv/bin:$PATH" cargo lambda build --release --arm64 --locked "${PACKAGES[@]}" </dev/null
    ARM64_ARGS=(--arm64-dir "$TARGET_DIR/lambda")
fi

"$SERVICES" start --record "$STARTED_FILE"
set -a
# shellcheck source=/dev/null
source "$STATE/env"
set +a

banner "running the binaries under the Runtime API emulator"
cargo run -q --locked -p scenario-tests --bin bench-lambda -- \
    --release-dir "$TARGET_DIR/release" "${ARM64_ARGS[@]}" --cold "${COLD:-9}" --warm "${WARM:-100}" </dev/null
