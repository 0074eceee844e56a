#!/usr/bin/env bash
# Builds both Lambda functions the way `sam deploy` ships them: `sam build`
# with the rust-cargolambda builder (cargo lambda build --release --arm64),
# then prints the size of each bootstrap binary. Usage: scripts/build.sh
#
# Installs what it needs into the project (nothing global but the rustup
# target): .venv-lint (aws-sam-cli, requirements/lint.txt) and .venv
# (cargo-lambda + ziglang, requirements/tools.txt), both by scripts/venv.sh. Once
# those and the crates are in place it runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$SECONDS

scripts/venv.sh .venv-lint requirements/lint.txt & lint_env=$!
scripts/venv.sh .venv requirements/tools.txt & env=$!
wait "$lint_env"
wait "$env"

target=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

# cargo-lambda runs zig through the first `python3` on PATH: the .venv's,
# which has ziglang, must come first. cargo stays reachable after it.
export PATH="$root/.venv/bin:$HOME/.cargo/bin:$PATH"
export SAM_CLI_TELEMETRY=0
# The builder honours CARGO_TARGET_DIR; without it, it builds into the
# workspace's ./target, holding cargo's lock there for minutes and blocking
# a developer's `cargo test`. Its own directory also keeps the release arm64
# artifacts apart from the debug ones, and makes rebuilds incremental.
export CARGO_TARGET_DIR="$root/target/sam"

# Every crate from Cargo.lock, for every platform, into cargo's cache: from
# the cache alone when it has them all, else from the registry. The build
# itself then never touches the network.
if ! cargo fetch --locked --offline 2> /dev/null; then
  cargo fetch --locked
fi
export CARGO_NET_OFFLINE=true

# Not --parallel: both functions share one target directory (and its lock);
# one after the other, the second reuses every dependency the first built.
# --build-in-source: the only mode the builder has (it says so otherwise).
.venv-lint/bin/sam build --template template.yaml --build-in-source

echo "build: $((SECONDS - start)) s" >&2
status=0
for function in ProvisionerFunction ForwarderFunction; do
  binary=.aws-sam/build/$function/bootstrap
  if [ ! -f "$binary" ]; then
    echo "build: $binary is missing" >&2
    status=1
    continue
  fi
  bytes=$(stat -c %s "$binary")
  mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
  # ELF e_machine 0xB7 (bytes 18-19, little-endian) is AArch64.
  machine=$(od -An -tx1 -j18 -N2 "$binary" | tr -d ' \n')
  arch=arm64
  if [ "$machine" != "b700" ]; then
    arch="NOT arm64 (e_machine $machine)"
    status=1
  fi
  printf '%-20s %10s bytes  %6s MiB  %s\n' "$function" "$bytes" "$mib" "$arch"
  if command -v file > /dev/null; then
    file "$binary"
  fi
done
exit "$status"
