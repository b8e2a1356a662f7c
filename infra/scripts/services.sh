#!/usr/bin/env bash
# Local services for tests and the local stack: moto_server (DynamoDB, SQS, SES) and redis-server.
#
#   services.sh start [--no-provision] [--record FILE]
#       Start (or reuse) the services, write .local/services/env, then create the tables and
#       queues from template.yaml (`bundle provision`). --record FILE appends the names of the
#       services this call started (moto, redis) to FILE, so a caller can stop exactly those.
#   services.sh stop [moto] [redis]   Stop the services we started (by recorded PID only).
#   services.sh status                Show what is running; exit 1 unless AWS and Redis answer.
#   services.sh env                   Print the env file (load it with: source .local/services/env).
#   services.sh tools                 Only make sure .venv has moto_server and cfn-lint.
#
# AWS_ENDPOINT_URL / REDIS_URL already set in the environment are used as given.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENV_FILE="$STATE/env"
WAIT_SECONDS=30

usage() {
    sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 2
}

# --- state files: $STATE/<name>.pid, <name>.port, <name>.log -----------------------------------

recorded() { cat "$STATE/$1.$2" 2>/dev/null || true; }

# Process name to expect in /proc/PID/cmdline for each service.
proc_name() {
    case "$1" in
    moto) echo moto_serialised.py ;;
    redis) echo redis-server ;;
    *) die "unknown service '$1' (expected moto or redis)" ;;
    esac
}

# True when the service we recorded is still alive (and is really that program).
ours_alive() { pid_matches "$(recorded "$1" pid)" "$(proc_name "$1")"; }

# Prefer the port we used last time (already-sourced shells keep working), else a free one.
pick_port() {
    local last
    last="$(recorded "$1" port)"
    if [[ -n "$last" ]] && python3 -c 'import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))' "$last" 2>/dev/null; then
        echo "$last"
    else
        free_port
    fi
}

# Start a program in the background, detached from our stdio and lock; print its PID.
launch() {
    local log="$1"
    shift
    nohup "$@" </dev/null >"$log" 2>&1 9>&- &
    echo $!
}

redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }

# Poll CHECK... every 0.25 s until it succeeds; on timeout show the log and fail.
wait_until() {
    local what="$1" log="$2" pid="$3"
    shift 3
    local i
    for ((i = 0; i < WAIT_SECONDS * 4; i++)); do
        "$@" && return 0
        if ! alive "$pid"; then
            tail -n 30 "$log" >&2 || true
            die "$what exited during startup (log: $log)"
        fi
        sleep 0.25
    done
    tail -n 30 "$log" >&2 || true
    kill -TERM "$pid" 2>/dev/null || true # ours and hung: do not leave it behind
    die "$what did not answer within ${WAIT_SECONDS}s (log: $log)"
}

# --- AWS (moto) ---------------------------------------------------------------------------------

# Sets AWS_URL, MOTO_PID (empty when not ours) and MOTO_HOW.
start_moto() {
    local port our_url=""
    port="$(recorded moto port)"
    [[ -n "$port" ]] && our_url="http://127.0.0.1:$port"
    MOTO_PID=""

    # An endpoint from the caller that is not the one we recorded: use it, start nothing.
    if [[ -n "${AWS_ENDPOINT_URL:-}" && "$AWS_ENDPOINT_URL" != "$our_url" ]]; then
        AWS_URL="$AWS_ENDPOINT_URL" MOTO_HOW="external (AWS_ENDPOINT_URL)"
        http_reachable "$AWS_URL" || warn "AWS_ENDPOINT_URL=$AWS_URL does not answer"
        return 0
    fi
    if ours_alive moto && http_ok "$our_url/moto-api/"; then
        AWS_URL="$our_url" MOTO_PID="$(recorded moto pid)" MOTO_HOW="reused"
        return 0
    fi

    port="$(pick_port moto)"
    local log="$STATE/moto.log"
    # moto with requests serialised: see moto_serialised.py for why.
    MOTO_PID="$(launch "$log" "$VENV/bin/python" "$REPO/infra/scripts/moto_serialised.py" 127.0.0.1 "$port")"
    echo "$MOTO_PID" >"$STATE/moto.pid"
    echo "$port" >"$STATE/moto.port"
    AWS_URL="http://127.0.0.1:$port" MOTO_HOW="started"
    wait_until "moto_server on port $port" "$log" "$MOTO_PID" http_ok "$AWS_URL/moto-api/"
    record_started moto
}

# --- Redis --------------------------------------------------------------------------------------

ensure_redis_installed() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
        log "installing redis-server with apt-get"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } </dev/null; then
            die "apt-get install redis-server failed"
        fi
    else
        die "redis-server not found; install it: sudo apt-get install -y redis-server (or set REDIS_URL)"
    fi
}

# Sets REDIS_OUT, REDIS_PID, REDIS_PORT (both empty when not ours) and REDIS_HOW.
start_redis() {
    local port our_url=""
    port="$(recorded redis port)"
    [[ -n "$port" ]] && our_url="redis://127.0.0.1:$port"
    REDIS_PID="" REDIS_PORT=""

    if [[ -n "${REDIS_URL:-}" && "$REDIS_URL" != "$our_url" ]]; then
        REDIS_OUT="$REDIS_URL" REDIS_HOW="external (REDIS_URL)"
        if command -v redis-cli >/dev/null && [[ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" != PONG ]]; then
            warn "REDIS_URL=$REDIS_URL does not answer PING"
        fi
        return 0
    fi
    ensure_redis_installed
    if ours_alive redis && redis_ping "$port"; then
        REDIS_OUT="$our_url" REDIS_PID="$(recorded redis pid)" REDIS_PORT="$port" REDIS_HOW="reused"
        return 0
    fi

    # Always our own instance on its own port (never the machine's 6379), so tests may stop it.
    port="$(pick_port redis)"
    local log="$STATE/redis.log"
    REDIS_PID="$(launch "$log" redis-server --port "$port" --bind 127.0.0.1 \
        --save '' --appendonly no --daemonize no --dir "$STATE")"
    echo "$REDIS_PID" >"$STATE/redis.pid"
    echo "$port" >"$STATE/redis.port"
    REDIS_OUT="redis://127.0.0.1:$port" REDIS_PORT="$port" REDIS_HOW="started"
    wait_until "redis-server on port $port" "$log" "$REDIS_PID" redis_ping "$port"
    record_started redis
}

# --- start / stop / status ----------------------------------------------------------------------

RECORD_FILE=""
record_started() { [[ -z "$RECORD_FILE" ]] || echo "$1" >>"$RECORD_FILE"; }

# Serialise start/stop between concurrent callers (the lock fd is closed for children).
take_lock() {
    mkdir -p "$STATE"
    if command -v flock >/dev/null; then
        exec 9>"$STATE/lock"
        flock -w 300 9 || die "timed out waiting for $STATE/lock"
    fi
}

# True when variable NAME is unset, empty or already DEFAULT.
is_default() {
    local current="${!1:-}"
    [[ -z "$current" || "$current" == "$2" ]]
}

write_env() {
    local tmp="$ENV_FILE.tmp"
    {
        echo "# Written by infra/scripts/services.sh start. Load with: source .local/services/env"
        printf 'export AWS_ENDPOINT_URL=%q\n' "$AWS_URL"
        # Defaults only where the caller has not chosen a value (ours from a sourced env count
        # as not chosen, so re-running start with the env loaded writes the same file).
        if is_default AWS_REGION us-east-1; then
            echo "export AWS_REGION=us-east-1"
            # boto3 and the aws CLI read this one.
            if is_default AWS_DEFAULT_REGION us-east-1; then echo "export AWS_DEFAULT_REGION=us-east-1"; fi
        fi
        if is_default AWS_ACCESS_KEY_ID testing; then
            echo "export AWS_ACCESS_KEY_ID=testing"
            echo "export AWS_SECRET_ACCESS_KEY=testing"
        fi
        printf 'export REDIS_URL=%q\n' "$REDIS_OUT"
        # The template's StripeMode has no default (a deploy must choose); the local services
        # serve Stripe's test mode, which is what the sample events are.
        if is_default STRIPE_MODE test; then echo "export STRIPE_MODE=test"; fi
        [[ -z "$MOTO_PID" ]] || echo "export BUNDLE_MOTO_PID=$MOTO_PID"
        [[ -z "$REDIS_PID" ]] || echo "export BUNDLE_REDIS_PID=$REDIS_PID"
        [[ -z "$REDIS_PORT" ]] || echo "export BUNDLE_REDIS_PORT=$REDIS_PORT"
    } >"$tmp"
    mv "$tmp" "$ENV_FILE"
}

# Create tables and queues from template.yaml through the Rust ops binary.
provision() {
    local cmd
    if command -v cargo >/dev/null; then
        cmd=(cargo run -q -p infra --bin bundle -- provision)
    elif [[ -x "$REPO/target/debug/bundle" ]]; then
        cmd=("$REPO/target/debug/bundle" provision)
    else
        warn "neither cargo nor target/debug/bundle found: tables and queues not provisioned"
        return 0
    fi
    log "provisioning tables and queues from template.yaml (${cmd[*]})"
    local out="$STATE/provision.log"
    if ! (
        set -a
        # shellcheck source=/dev/null
        source "$ENV_FILE"
        cd "$REPO"
        "${cmd[@]}" </dev/null
    ) >"$out" 2>&1 9>&-; then
        cat "$out" >&2
        die "provisioning failed (${cmd[*]}); output above and in $out"
    fi
    sed 's/^/    /' "$out" >&2
    # Keep the resource names it printed in the env file (replacing earlier ones).
    local exports
    exports=$(grep '^export ' "$out" || true)
    if [[ -n "$exports" ]]; then
        local names
        names=$(sed -E 's/^export ([A-Z0-9_]+)=.*/\1/' <<<"$exports" | paste -sd'|')
        grep -vE "^export (${names})=" "$ENV_FILE" >"$ENV_FILE.tmp" || true
        printf '%s\n' "$exports" >>"$ENV_FILE.tmp"
        mv "$ENV_FILE.tmp" "$ENV_FILE"
    fi
}

cmd_start() {
    local do_provision=1
    while (($#)); do
        case "$1" in
        --no-provision) do_provision=0 ;;
        --record)
            RECORD_FILE="${2:?--record needs a file}"
            shift
            ;;
        *) usage ;;
        esac
        shift
    done
    take_lock
    ensure_venv
    start_moto
    start_redis
    write_env
    ((do_provision == 0)) || provision

    cat >&2 <<EOF
services ready:
  AWS (moto)  $AWS_URL  ${MOTO_PID:+pid $MOTO_PID, }$MOTO_HOW
  Redis       $REDIS_OUT  ${REDIS_PID:+pid $REDIS_PID, }$REDIS_HOW
load the env:  source .local/services/env
stop:          infra/scripts/services.sh stop
EOF
}

# Stop one service if (and only if) the recorded PID is alive and is that program.
stop_one() {
    local name="$1" pid prog i
    pid="$(recorded "$name" pid)"
    prog="$(proc_name "$name")"
    if [[ -z "$pid" ]]; then
        log "$name: not started by us"
        return 0
    fi
    if pid_matches "$pid" "$prog"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 40; i++)); do
            alive "$pid" || break
            sleep 0.25
        done
        if alive "$pid"; then
            warn "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "$name: stopped (pid $pid)"
    else
        log "$name: pid $pid is not a running $prog (stale pid file)"
    fi
    rm -f "$STATE/$name.pid"
}

cmd_stop() {
    local names=("$@")
    ((${#names[@]})) || names=(moto redis)
    take_lock
    local n
    for n in "${names[@]}"; do stop_one "$n"; done
    # Nothing of ours left: the env file would point at dead ports.
    if ! ours_alive moto && ! ours_alive redis; then rm -f "$ENV_FILE"; fi
}

cmd_status() {
    local ok=0 pid port
    for name in moto redis; do
        pid="$(recorded "$name" pid)" port="$(recorded "$name" port)"
        if ours_alive "$name"; then
            echo "$name: running, pid $pid, port $port (log: $STATE/$name.log)"
        else
            echo "$name: not running (ours)"
        fi
    done
    if [[ -f "$ENV_FILE" ]]; then
        (
            # shellcheck source=/dev/null
            source "$ENV_FILE"
            if http_ok "$AWS_ENDPOINT_URL/moto-api/" || http_ok "$AWS_ENDPOINT_URL"; then
                echo "AWS endpoint $AWS_ENDPOINT_URL answers"
            else
                echo "AWS endpoint $AWS_ENDPOINT_URL does NOT answer"
                exit 1
            fi
            if [[ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]]; then
                echo "Redis $REDIS_URL answers"
            else
                echo "Redis $REDIS_URL does NOT answer"
                exit 1
            fi
        ) || ok=1
    else
        echo "no env file ($ENV_FILE): run infra/scripts/services.sh start"
        ok=1
    fi
    return "$ok"
}

cmd_env() {
    [[ -f "$ENV_FILE" ]] || die "no env file; run infra/scripts/services.sh start first"
    cat "$ENV_FILE"
}

case "${1:-}" in
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
status) cmd_status ;;
env) cmd_env ;;
tools) ensure_venv ;;
*) usage ;;
esac
