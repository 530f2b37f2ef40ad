#!/usr/bin/env bash
# The test suite on a fresh machine: installs the package and the servers the tests need
# (PostgreSQL from Debian's package, moto's S3 server; dcmtk and dicom3tools for the DICOM
# conformance checks), starts them on loopback, runs lint, type and layer checks and pytest,
# then stops the servers.
MEDSEAL_EXTRAS=ml,eval,test
source "$(dirname "$0")/_env.sh"

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v dcmdump >/dev/null 2>&1 || need_apt+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || need_apt+=(dicom3tools)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || echo "warning: apt-get update failed"
    for pkg in "${need_apt[@]}"; do
      apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null || echo "warning: could not install $pkg"
    done
  else
    echo "warning: not root, cannot install ${need_apt[*]}; their tests will skip or fail"
  fi
fi

RUN_DIR="$(mktemp -d /tmp/medseal-test.XXXXXX)"
free_port() { "$VPY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cleanup() {
  if [ -n "${PG_CTL:-}" ] && [ -d "$RUN_DIR/pg" ]; then
    $AS_PG "$PG_CTL" -D "$RUN_DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" >/dev/null 2>&1 || true
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT

# PostgreSQL on loopback, in a throw-away cluster.
INITDB="$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)"
if [ -n "$INITDB" ]; then
  PG_CTL="$(dirname "$INITDB")/pg_ctl"
  PG_PORT="$(free_port)"
  AS_PG=""
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$RUN_DIR" 2>/dev/null && AS_PG="runuser -u postgres --"
  fi
  chmod 755 "$RUN_DIR"
  $AS_PG "$INITDB" -D "$RUN_DIR/pg" -A trust -U postgres >"$RUN_DIR/initdb.log" 2>&1
  $AS_PG "$PG_CTL" -D "$RUN_DIR/pg" -l "$RUN_DIR/pg.log" -w -t 60 \
    -o "-p $PG_PORT -k $RUN_DIR -h 127.0.0.1 -c fsync=off" start >/dev/null
  export MEDSEAL_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "==> PostgreSQL on 127.0.0.1:$PG_PORT"
else
  echo "warning: PostgreSQL not available"
fi

# moto's standalone S3 server on loopback.
S3_PORT="$(free_port)"
.venv/bin/moto_server -H 127.0.0.1 -p "$S3_PORT" >"$RUN_DIR/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  "$VPY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$S3_PORT)))" && break
  sleep 0.2
done
export MEDSEAL_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
echo "==> moto S3 server on 127.0.0.1:$S3_PORT"

echo "==> ruff"
.venv/bin/ruff check src tests benchmarks
echo "==> import-linter (one-way data flow)"
.venv/bin/lint-imports
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
set +e
.venv/bin/python -m pytest -n 2 --dist loadfile -q "$@"
status=$?
set -e
exit $status
