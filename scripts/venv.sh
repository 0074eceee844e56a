#!/usr/bin/env bash
# Creates (or refreshes) a project-local Python virtual environment from a
# pinned requirements file. Usage: scripts/venv.sh [VENV_DIR] [REQUIREMENTS]
# Re-installs only when the requirements file changed (stamp = its sha256).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
req=${2:-requirements/tools.txt}
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python=${PYTHON:-python3}
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "venv: $venv ready ($req)" >&2
