# Sourced by scripts/demo.sh and scripts/test.sh: makes .venv with medseal and the extras
# named in MEDSEAL_EXTRAS (comma-separated, e.g. "ml,eval,test"). When an extra brings torch
# (ml, eval), torch is installed first and pinned: an unpinned torch pulls CUDA wheels.
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
EXTRAS="${MEDSEAL_EXTRAS:-}"
case ",$EXTRAS," in
  *,ml,* | *,eval,* | *,all,*)
    if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
      echo "==> installing torch==2.13.0 (CPU)"
      pip_quiet torch==2.13.0
    fi
    ;;
esac
stamp=".venv/.medseal-installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing medseal${EXTRAS:+[$EXTRAS]} into .venv"
  pip_quiet -e ".${EXTRAS:+[$EXTRAS]}"
  "$VPY" -c "import medseal" >/dev/null
  # pip's exit status is filtered above: check that each extra's modules are really there.
  "$VPY" -c 'import sys; from medseal._extras import Extra, require_extra
for name in sys.argv[1].split(","):
    if name in tuple(Extra): require_extra(name)' "$EXTRAS"
  touch "$stamp"
fi
