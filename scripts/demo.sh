#!/usr/bin/env bash
# The main job on a fresh machine: install what it needs, then run `medseal demo`.
MEDSEAL_EXTRAS=ml,eval
source "$(dirname "$0")/_env.sh"
exec .venv/bin/medseal demo "$@"
