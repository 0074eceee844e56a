#!/usr/bin/env bash
# Installs what tests and the demo need on a fresh machine: the pinned
# Python tools (.venv, and the AWS CLI in .venv-awscli), the policy
# evaluator's npm packages, and the command-line tools the scripts call.
# Idempotent and quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in curl bc node npm; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  pkgs=("${missing[@]/npm/}")
  apt-get update -qq && apt-get install -y -qq "${pkgs[@]/node/nodejs}" npm >/dev/null
fi
scripts/venv.sh .venv requirements/tools.txt
# The real AWS CLI: tests/cli/ runs a share's cli_profile with it.
scripts/venv.sh .venv-awscli requirements/awscli.txt
if [ ! -d tests/iam-eval/node_modules ] || [ tests/iam-eval/package-lock.json -nt tests/iam-eval/node_modules ]; then
  npm ci --prefix tests/iam-eval --no-audit --no-fund --loglevel=error
  touch tests/iam-eval/node_modules
fi
