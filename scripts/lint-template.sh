#!/usr/bin/env bash
# Lints template.yaml offline: SAM's own validation (with and without its
# cfn-lint pass), cfn-lint, and checkov. Runs every check, then exits non-zero
# if any failed. Usage: scripts/lint-template.sh
#
# Two virtual environments, both made or refreshed by scripts/venv.sh:
#   .venv-lint     aws-sam-cli + cfn-lint   (requirements/lint.txt)
#   .venv-checkov  checkov                  (requirements/checkov.txt)
# They cannot share one: checkov pins boto3==1.35.49, aws-sam-cli pins
# boto3[crt]==1.43.108. checkov's skip list, each entry justified, is in
# .checkov.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
template=template.yaml

# Build both environments at once (a cold start is mostly download time).
scripts/venv.sh .venv-lint requirements/lint.txt & lint_env=$!
scripts/venv.sh .venv-checkov requirements/checkov.txt & checkov_env=$!
wait "$lint_env"
wait "$checkov_env"

# No network, no real account: no telemetry, a fixed Region and dummy
# credentials, so nothing here can reach AWS or the instance metadata service.
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=lint-only-not-a-secret
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
# checkov: no Bridgecrew platform, no download of extra policies.
export BC_SKIP_MAPPING=TRUE

failed=()
run() {
  local name=$1
  shift
  echo "== $name" >&2
  if "$@"; then
    echo "   ok" >&2
  else
    echo "   FAILED: $name (exit $?)" >&2
    failed+=("$name")
  fi
}

run "sam validate --lint" .venv-lint/bin/sam validate --lint --template "$template"
run "sam validate" .venv-lint/bin/sam validate --region us-east-1 --template "$template"
# cfn-lint exits non-zero on warnings too, not only on errors.
run "cfn-lint" .venv-lint/bin/cfn-lint "$template"
# The member accounts' template of an organization share, as the CLI (and
# grantee_setup) produce it: plain CloudFormation a StackSet can deploy.
member=target/member-template.json
mkdir -p target
cargo run -q -p trailshare-cli -- setup member-template \
  --role-arn arn:aws:iam::111111111111:role/trailshare/trailshare-members > "$member"
run "cfn-lint (member template)" .venv-lint/bin/cfn-lint "$member"
run "checkov" .venv-checkov/bin/checkov --config-file .checkov.yaml -f "$template" \
  --framework cloudformation --skip-download --quiet --compact

if [ "${#failed[@]}" -gt 0 ]; then
  echo "lint-template: ${#failed[@]} check(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "lint-template: all checks passed" >&2
