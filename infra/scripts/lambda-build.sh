#!/usr/bin/env bash
# The deploy build: one release arm64 build of the four functions (`cargo lambda build
# --release --arm64`, cargo-lambda and its zig from the tools venv), shared by their packages.
#
#   lambda-build.sh                       build only (target/lambda/<function>/bootstrap)
#   lambda-build.sh FUNCTION ARTIFACTS    build, then copy FUNCTION's bootstrap into ARTIFACTS
#
# `make sam-build` runs `sam build`, which calls the Makefile's build-<LogicalId> target of each
# function (template.yaml: BuildMethod makefile, built in source) with ARTIFACTS_DIR: the first
# call builds all four in one cargo run, the others find the build done and only copy.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

export PATH="$REPO/.local/sam-venv/bin:$PATH"
command -v cargo-lambda >/dev/null || die "cargo-lambda not found: run \`make tools-venv\`"

cargo lambda build --release --arm64 --locked \
    -p login -p stripe-webhook -p reminder-cron -p email-retry </dev/null >&2

if [[ $# -eq 2 ]]; then
    target_dir="$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    cp "$target_dir/lambda/$1/bootstrap" "$2/bootstrap"
fi
