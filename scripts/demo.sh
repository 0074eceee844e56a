#!/usr/bin/env bash
# make demo: installs what it needs, builds, and runs the whole job on the
# local stand-in (see tests/bin/demo/). Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
cargo build --quiet --workspace --bins
exec target/debug/demo
