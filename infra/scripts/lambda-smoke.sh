#!/usr/bin/env bash
# `make lambda-smoke`: the four function binaries under cargo-lambda's Runtime API emulator
# (`cargo lambda watch`), one `cargo lambda invoke` per sample event of events/<function>/,
# each answer checked against its documented one (docs/LOCAL.md). Not part of `make test`
# (which runs the same samples under its own emulator, tests/tests/lambda_runtime.rs).
#
# Needs cargo-lambda (Makefile `tools-venv`) and the local services (started here when not
# running, and stopped again). The samples are prepared first: the login sample's user is
# created, the Stripe samples are re-signed at invoke time (`samples resign`) with the
# webhook's current secret, and every invocation gets a deadline that fits the function.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

SERVICES="$REPO/infra/scripts/services.sh"
STARTED_FILE="$(mktemp)"
WATCH_PID=""
WATCH_LOG="$STATE/lambda-watch.log"
FAILED=0

cleanup() {
    local rc=$?
    if [[ -n "$WATCH_PID" ]] && alive "$WATCH_PID"; then
        kill -TERM "$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
    fi
    stop_recorded "$STARTED_FILE"
    exit "$rc"
}
trap cleanup EXIT

make -s -C "$REPO" tools-venv </dev/null
export PATH="$REPO/.local/sam-venv/bin:$PATH"
"$SERVICES" start --record "$STARTED_FILE"
set -a
# shellcheck source=/dev/null
source "$STATE/env"
set +a

banner "building the functions and preparing the samples"
# One package at a time, as cargo lambda watch builds them (its first invoke would otherwise
# wait for the compile and time out).
for function in login stripe-webhook reminder-cron email-retry; do
    cargo build -q -p "$function" --bin "$function" </dev/null
done
cargo run -q -p scenario-tests --bin samples -- seed </dev/null

PORT="$(free_port)"
# How long an invoke waits for its answer: the longest template Timeout (reminder-cron, 120 s)
# plus slack. cargo lambda watch (1.9) hands every invocation a fixed `Lambda-Runtime-Deadline-Ms`
# of 600000, which the functions read as ten minutes from now (shared/src/deadline.rs).
DEADLINE_SECONDS=130
banner "cargo lambda watch on 127.0.0.1:$PORT (log: $WATCH_LOG)"
# Functions inherit this environment: tables, queue, secret ARNs from the services env file.
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" --timeout "$DEADLINE_SECONDS" </dev/null >"$WATCH_LOG" 2>&1 &
WATCH_PID=$!
for ((i = 0; i < 240; i++)); do
    http_reachable "http://127.0.0.1:$PORT/" && break
    alive "$WATCH_PID" || { tail -n 30 "$WATCH_LOG" >&2; die "cargo lambda watch exited"; }
    sleep 0.5
done

# invoke FUNCTION FILE EXPECTED: EXPECTED is a Python expression over `r` (the JSON answer).
invoke() {
    local function="$1" file="$2" expected="$3" data answer
    data="$(mktemp)"
    if [[ "$function" == stripe-webhook ]]; then
        cargo run -q -p scenario-tests --bin samples -- resign "$file" >"$data" </dev/null
    else
        cp "$file" "$data"
    fi
    if ! answer="$(cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$PORT" \
        --data-file "$data" --output-format json </dev/null 2>&1)"; then
        answer="{\"invoke_failed\": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$answer")}"
    fi
    rm -f "$data"
    if python3 -c 'import json, sys
r = json.loads(sys.argv[1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$answer" "$expected" 2>/dev/null; then
        printf '  ok    %-16s %-48s %s\n' "$function" "${file##*/}" "$expected"
    else
        printf '  FAIL  %-16s %-48s expected %s, got %s\n' "$function" "${file##*/}" "$expected" "${answer:0:300}"
        FAILED=$((FAILED + 1))
    fi
}

status() { echo "r.get('statusCode') == $1"; }

banner "invoking every sample"
invoke login events/login/success.json "$(status 200) and json.loads(r['body'])['user']['email'] == 'jane@example.com'"
invoke login events/login/wrong_password.json "$(status 401)"
invoke login events/login/malformed_body.json "$(status 400)"
for f in events/stripe-webhook/*.json; do
    case "${f##*/}" in
    stale_timestamp.json | tampered.json | unsigned.json | wrong_secret.json) invoke stripe-webhook "$f" "$(status 400)" ;;
    # Stripe API look-ups (no real key, no network): 500, so Stripe would retry.
    customer_subscription_unknown_customer.json | invoice_paid.json | invoice_payment_failed.json)
        invoke stripe-webhook "$f" "$(status 500)"
        ;;
    *) invoke stripe-webhook "$f" "$(status 200)" ;;
    esac
done
invoke reminder-cron events/reminder-cron/scheduler.json "r.get('errors') == 0 and 'due' in r"
invoke reminder-cron events/reminder-cron/classic_scheduled_event.json "r.get('errors') == 0 and 'due' in r"
invoke email-retry events/email-retry/valid_batch.json "r == {'batchItemFailures': []}"
invoke email-retry events/email-retry/duplicate_batch.json "r == {'batchItemFailures': []}"
invoke email-retry events/email-retry/malformed_batch.json \
    "sorted(f['itemIdentifier'] for f in r['batchItemFailures']) == ['66666666-6666-4666-8666-666666666666', '77777777-7777-4777-8777-777777777777']"

if ((FAILED)); then
    die "$FAILED sample(s) did not get their documented answer (function logs: $WATCH_LOG)"
fi
echo "every sample got its documented answer" >&2
