# shellcheck shell=bash
# Helpers shared by services.sh and test.sh. Source it; do not run it.

# Repo root, computed from this file's location (infra/scripts/lib.sh).
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
STATE="$REPO/.local/services"
VENV="$REPO/.venv"

# Python tools pinned for every machine (the venv is always used, never a global install).
PY_REQUIREMENTS=('moto[server]>=5.2,<5.3' 'cfn-lint')

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# A banner for one step of a longer run.
banner() {
    if [[ -t 2 ]]; then
        printf '\n\033[1m=== %s ===\033[0m\n' "$*" >&2
    else
        printf '\n=== %s ===\n' "$*" >&2
    fi
}

# Make sure .venv holds moto_server and cfn-lint. Fast no-op when it already does; a changed
# requirement list (recorded in a stamp file) triggers a reinstall.
ensure_venv() {
    local stamp="$VENV/.bundle-requirements" wanted
    wanted="${PY_REQUIREMENTS[*]}"
    if [[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/cfn-lint" ]] &&
        [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        return 0
    fi
    command -v python3 >/dev/null || die "python3 is required (apt-get install -y python3 python3-venv)"
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating virtualenv $VENV"
        python3 -m venv "$VENV" ||
            die "could not create $VENV (on Debian: apt-get install -y python3-venv)"
    fi
    log "installing ${wanted} into .venv (one-time, takes a minute)"
    local started=$SECONDS
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_REQUIREMENTS[@]}" </dev/null ||
        die "pip install into $VENV failed"
    printf '%s\n' "$wanted" >"$stamp"
    log "python tools ready in $((SECONDS - started))s"
}

# Print a free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True when PID is a live process (a zombie waiting to be reaped does not count).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [[ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]]
}

# True when PID is alive and its command line contains NAME (guards against PID reuse).
pid_matches() {
    local pid="$1" name="$2" cmd
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmd" == *"$name"* ]]
}

# True when URL answers with an HTTP 2xx/3xx.
http_ok() {
    if command -v curl >/dev/null; then
        curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null
    fi
}

# True when URL gives any HTTP answer at all (even an error status).
http_reachable() {
    if command -v curl >/dev/null; then
        curl -sS -o /dev/null --max-time 2 "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass' "$1" 2>/dev/null
    fi
}

# Stop the services a `services.sh start --record FILE` of this run started (listed in FILE;
# services that were already running are not in it), then remove FILE.
stop_recorded() {
    local file="$1" started=()
    if [[ -s "$file" ]]; then
        mapfile -t started <"$file"
        "$REPO/infra/scripts/services.sh" stop "${started[@]}" || warn "could not stop ${started[*]}"
    fi
    rm -f "$file"
}
