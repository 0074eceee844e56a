#!/usr/bin/env bash
# make test: installs what it needs, runs every test, and ends with one
# line that totals them ("total: N passed, N failed").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Unit and integration tests (each integration binary starts its own moto).
cargo test --workspace --all-targets 2>&1 | tee "$log" || status=1
# The independent IAM policy evaluator checks itself, then judges the
# guard rails of template.yaml as CloudFormation would deploy them.
(cd tests/iam-eval && node --test selftest.mjs template.test.mjs dlq.test.mjs) 2>&1 | tee -a "$log" || status=1
# End to end: both functions as Lambda binaries behind the runtime interface
# (cargo lambda watch), driven with real API Gateway and SQS event files.
scripts/demo.sh 2>&1 | tee -a "$log" || status=1
passed=$(grep -Eo '(test result: [a-zA-Z]+\. [0-9]+ passed|^# pass [0-9]+|^demo: [0-9]+ passed)' "$log" | grep -Eo '[0-9]+' | paste -sd+ | bc)
failed=$(grep -Eo '([0-9]+ failed;|^# fail [0-9]+|^demo: [0-9]+ passed, [0-9]+ failed)' "$log" | grep -Eo '[0-9]+ failed|[0-9]+$' | grep -Eo '[0-9]+' | paste -sd+ | bc)
[ "${failed:-0}" -eq 0 ] || status=1
echo "total: ${passed:-0} passed, ${failed:-0} failed"
exit $status
