"""Red-team re-run of issue 12's findings, from outside the test suite, through the CLI.

Usage: .venv/bin/python scripts/redteam_vault.py   (about 4 minutes on 2 cores)
Prints one line per scenario: HELD (the attack failed) or BROKEN (the attack succeeded).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

PY = sys.executable
results: list[tuple[str, bool, str]] = []


def cli(*args: str, env: dict[str, str], check: bool = False, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [PY, "-m", "medseal.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and p.returncode != 0:
        raise RuntimeError(f"{args}: rc={p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def record(name: str, held: bool, detail: str = "") -> None:
    results.append((name, held, detail))
    print(f"{'HELD  ' if held else 'BROKEN'} {name}{': ' + detail if detail else ''}", flush=True)


def setup(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MEDSEAL_PASSPHRASE="red team passphrase 123",
        MEDSEAL_KEYRING=str(root / "ring.json"),
        MEDSEAL_VAULT=str(root / "vault"),
        MEDSEAL_USER="olivia",
        MEDSEAL_PROGRESS="0",
    )
    cli("keys", "init", env=env, check=True)
    cli("vault", "init", str(root / "vault"), env=env, check=True)
    return env


def pngs(folder: Path, n: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        PILImage.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / f"img{i:03d}.png")
    return folder


def db(root: Path) -> Path:
    cands = sorted((root / "vault").glob("*.db")) + sorted((root / "vault").glob("*.sqlite*"))
    return [c for c in cands if not c.name.endswith(("-wal", "-shm"))][0]


def ids(env: dict[str, str]) -> list[str]:
    import json

    out = cli("vault", "ls", "--json", env=env, check=True).stdout
    return [o["id"] for o in json.loads(out)]


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="medseal-redteam-"))
    try:
        # 1. audit truncation with a forged head
        root = base / "a"
        env = setup(root)
        cli("ingest", str(pngs(root / "in", 4)), "--dataset", "chest", env=env, check=True)
        oid = ids(env)[0]
        cli("vault", "get", oid, "-o", str(root / "x.png"), env=env, check=True)
        con = sqlite3.connect(db(root))
        rows = con.execute("select seq, hash, mac from audit order by seq").fetchall()
        keep = rows[-3]
        con.execute("delete from audit where seq > ?", (keep[0],))
        con.execute("update audit_head set seq=?, hash=?, mac=?", keep)
        con.commit()
        con.close()
        p1 = cli("vault", "audit", "--verify", env=env)
        p2 = cli("vault", "verify", env=env)
        record("audit truncation + head forged from a stored entry", p1.returncode != 0 and p2.returncode != 0,
               f"audit --verify rc={p1.returncode}, verify rc={p2.returncode}")

        # 2. whole-database rollback to an old copy
        root = base / "b"
        env = setup(root)
        cli("ingest", str(pngs(root / "in", 3)), "--dataset", "chest", env=env, check=True)
        d = db(root)
        con = sqlite3.connect(d)
        con.execute("pragma wal_checkpoint(TRUNCATE)")
        con.close()
        snap = root / "old.db"
        shutil.copy2(d, snap)
        cli("ingest", str(pngs(root / "in2", 3, seed=1)), "--dataset", "chest", env=env, check=True)
        for suffix in ("-wal", "-shm"):
            Path(str(d) + suffix).unlink(missing_ok=True)
        shutil.copy2(snap, d)
        p1 = cli("vault", "audit", "--verify", env=env)
        p2 = cli("vault", "verify", env=env)
        record("whole catalogue restored from an old copy", p1.returncode != 0 and p2.returncode != 0,
               f"audit --verify rc={p1.returncode}, verify rc={p2.returncode}")

        # 3. plaintext out while the audit cannot be written
        root = base / "c"
        env = setup(root)
        cli("ingest", str(pngs(root / "in", 2)), "--dataset", "chest", env=env, check=True)
        oid = ids(env)[0]
        con = sqlite3.connect(db(root), timeout=0.1)
        con.execute("begin exclusive")
        env_t = dict(env, MEDSEAL_DB_TIMEOUT="1")
        out = root / "leak.png"
        p = cli("vault", "get", oid, "-o", str(out), env=env_t, timeout=120)
        con.rollback()
        con.close()
        record("get -o while the audit log is write-locked", (not out.exists()) and p.returncode != 0
               and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) <= 2,
               f"file written={out.exists()}, rc={p.returncode}, stderr lines={len(p.stderr.strip().splitlines())}")

        # 4. re-route an object into another dataset by editing the catalogue
        root = base / "d"
        env = setup(root)
        cli("ingest", str(pngs(root / "in", 1)), "--dataset", "secret", env=env, check=True)
        cli("vault", "grant", "bob", "--role", "clinician", "--dataset", "open", env=env, check=True)
        oid = ids(env)[0]
        con = sqlite3.connect(db(root))
        con.execute("update objects set dataset='open' where id=?", (oid,))
        con.commit()
        con.close()
        out = root / "bob.png"
        p = cli("vault", "get", oid, "-o", str(out), "--as", "bob", env=env)
        v = cli("vault", "verify", env=env)
        record("catalogue row moved to a dataset bob may read", not out.exists() and v.returncode != 0,
               f"bob got file={out.exists()}, verify rc={v.returncode}")

        # 5. ingest re-run after an interruption: duplicates?
        root = base / "e"
        env = setup(root)
        src = pngs(root / "in", 20)
        proc = subprocess.Popen([PY, "-m", "medseal.cli", "ingest", str(src), "--dataset", "chest"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                n = sqlite3.connect(db(root)).execute("select count(*) from objects").fetchone()[0]
            except Exception:
                n = 0
            if n >= 5:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        cli("ingest", str(src), "--dataset", "chest", env=env)
        n = len(ids(env))
        record("kill -9 mid-ingest, then the same ingest again", n == 20, f"{n} objects for 20 files")

        # 6. a non-UTF-8 file name and an unreadable file among good ones
        root = base / "f"
        env = setup(root)
        src = pngs(root / "in", 3)
        bad = os.path.join(os.fsencode(src), b"bad\xff.png")
        with open(bad, "wb") as fh:
            fh.write((src / "img000.png").read_bytes()[:-20] + os.urandom(20))
        junk = src / "junk.png"
        junk.write_bytes(b"not a png")
        p = cli("ingest", str(src), "--dataset", "chest", env=env)
        n = len(ids(env))
        record("bad files among good ones", n >= 3 and p.returncode != 0 and "Traceback" not in p.stderr,
               f"{n} stored, rc={p.returncode}, traceback={'Traceback' in p.stderr}")

        # 7. names from the path reach the analyst
        root = base / "g"
        env = setup(root)
        src = pngs(root / "Doe_John_MRN555", 1)
        cli("ingest", str(src), "--dataset", "chest", env=env, check=True)
        cli("vault", "grant", "ann", "--role", "analyst", "--dataset", "chest", env=env, check=True)
        out = cli("vault", "ls", "--json", "--as", "ann", env=env).stdout
        record("file path in an analyst's listing", "Doe" not in out and "MRN555" not in out and "img000" not in out)

        # 8. permissions of the catalogue and vault.json
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (root / "vault").iterdir() if p.is_file()}
        loose = {k: oct(m) for k, m in modes.items() if m & 0o077}
        record("catalogue and vault.json not readable by others", not loose, str(loose) if loose else "")

        # 9. identity masking
        p = cli("mask", "--dataset", "chest", "--block", "1", env=env)
        record("mask --block 1 refused", p.returncode != 0 and "Traceback" not in p.stderr, f"rc={p.returncode}")

        # 10. usage errors
        p1 = cli("vault", "lss", env=env)
        p2 = cli("evaluate", "seed000", "--seedz", "0,1", env=env)
        record("mistyped command / option", p1.returncode == 2 and p2.returncode == 2
               and "Traceback" not in p1.stderr + p2.stderr, f"rc={p1.returncode},{p2.returncode}")

        # 11. ids and principals with a trailing newline
        oid = ids(env)[0]
        p1 = cli("vault", "show", oid + "\n", env=env)
        p2 = cli("vault", "grant", "eve\n", "--role", "analyst", "--dataset", "chest", env=env)
        record("trailing newline in id / principal", p1.returncode != 0 and p2.returncode != 0,
               f"show rc={p1.returncode}, grant rc={p2.returncode}")

        # 12. gc racing an ingest
        root = base / "h"
        env = setup(root)
        src = pngs(root / "in", 40)
        stop = threading.Event()

        def gc_loop() -> None:
            while not stop.is_set():
                cli("vault", "gc", env=env)

        t = threading.Thread(target=gc_loop)
        t.start()
        cli("ingest", str(src), "--dataset", "chest", env=env)
        stop.set()
        t.join()
        v = cli("vault", "verify", "--deep", env=env)
        record("gc during ingest loses nothing", v.returncode == 0 and len(ids(env)) == 40,
               f"verify rc={v.returncode}, objects={len(ids(env))}")

        # 13. keys rotate during an ingest
        root = base / "i"
        env = setup(root)
        src = pngs(root / "in", 40)
        proc = subprocess.Popen([PY, "-m", "medseal.cli", "ingest", str(src), "--dataset", "chest"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.0)
        cli("keys", "rotate", env=env)
        proc.wait()
        v = cli("vault", "verify", env=env)
        record("rotate during ingest leaves no key on the old KEK", v.returncode == 0 and "retired" not in v.stdout.lower(),
               f"verify rc={v.returncode}: {v.stdout.strip().splitlines()[-1:] if v.stdout.strip() else v.stderr.strip()[-200:]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    broken = [r for r in results if not r[1]]
    print(f"{len(results) - len(broken)} held, {len(broken)} broken")


if __name__ == "__main__":
    main()
