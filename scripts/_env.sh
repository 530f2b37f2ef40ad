# Sourced by scripts/demo.sh and scripts/test.sh: makes .venv with CPU torch and medseal.
# torch is installed first and pinned (DEVELOPERS.md): an unpinned torch pulls CUDA wheels.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
pip_quiet() { "$VPY" -m pip install --disable-pip-version-check -q "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  echo "==> installing torch==2.13.0 (CPU)"
  pip_quiet torch==2.13.0
fi
EXTRAS="${MEDSEAL_EXTRAS:-}"
stamp=".venv/.medseal-installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing medseal${EXTRAS:+[$EXTRAS]} into .venv"
  pip_quiet -e ".${EXTRAS:+[$EXTRAS]}"
  "$VPY" -c "import medseal" >/dev/null
  touch "$stamp"
fi
