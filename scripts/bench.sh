#!/usr/bin/env bash
# make bench: speed and memory figures (never asserted in tests).
#  1. the domain's hot paths (ns per operation);
#  2. each release binary under a fake Lambda runtime API: init time (exec to
#     first /next), latency of 500 invocations that need no AWS call, peak RSS;
#  3. `trailshare pull` against `aws s3 sync` on 2,000 files (bench-pull.sh);
#  4. the forwarder's peak memory copying 256 MiB, server-side and streamed
#     (bench-copy, the release binary under the fake runtime, on the stand-in);
#  5. scale on the stand-in (bench-scale): share table refresh at 1/100/1,000
#     shares, first invocation beside a bare ListRoles, first API page,
#     requests per file, backfill; and a cold forwarder process, ours against
#     the Python/boto3 one a user would write (bench/python_forwarder, under
#     the real runtime interface client awslambdaric, from .venv-bench);
#  6. `trailshare verify` over 100,000 log files under signed digests: peak
#     RSS (goal under 64 MiB) and time (bench-verify);
#  7. backfill of one account's full-size day (17 regions x 312 files) by the
#     release forwarder under the fake Lambda runtime (60 s deadlines), then
#     the same window again: files/s, requests and CPU per file, peak RSS,
#     and the extrapolation to an account-year and 2,000 accounts
#     (bench-backfill);
#  8. share activity: the forwarder's extra requests, time and peak RSS per
#     log file of A (typical and large), with ACTIVITY_BUCKET and without,
#     and that a file of B costs nothing extra (bench-activity).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/venv.sh .venv-bench requirements/bench.txt
cargo bench --quiet -p trailshare --bench domain
cargo build --quiet --release --bin provisioner --bin forwarder --bin trailshare --bin bench-copy --bin bench-scale --bin bench-verify --bin bench-backfill --bin bench-activity
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Requests answered without AWS: an unknown route, an S3 test event.
python3 - "$tmp" <<'PY'
import json, sys
ev = json.load(open("tests/fixtures/events/apigw-v2-create.json"))
ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/not-a-route"
json.dump(ev, open(f"{sys.argv[1]}/api.json", "w"))
PY
export TRAIL_BUCKET=trail-bucket AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
.venv/bin/python scripts/fake_runtime.py target/release/provisioner "$tmp/api.json" 500
.venv/bin/python scripts/fake_runtime.py target/release/forwarder tests/fixtures/events/s3-test-event.json 500
scripts/bench-pull.sh target/release/trailshare 2000
# The stand-in's own log lines (audit, request) are not figures.
unset TRAIL_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export PATH="$PWD/.venv/bin:$PATH"
target/release/bench-copy | grep -v '^{'
target/release/bench-scale | grep -v '^{'
target/release/bench-verify target/release/trailshare 100000
target/release/bench-backfill target/release/forwarder | grep -v '^{'
target/release/bench-activity | grep -v '^{'
