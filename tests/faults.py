"""Faults made real for the tests: a small tmpfs, an immutable folder (``chattr +i``: the tests
run as root, whom ``chmod`` does not stop), a read-only bind mount, a closed port, a real
``mlflow server`` and a throwaway PostgreSQL server on loopback. Mounts and flags are undone
however the test ends; where the machine does not allow them (not root, a filesystem without
``chattr``) the test is skipped, saying why."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MLFLOW_START_S = 300  # a loaded 2-core machine needs minutes to import and migrate


def free_port() -> int:
    """A loopback port nothing listens on: bound by the OS, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"`{' '.join(command)}` is not allowed here: {done.stderr.strip()}")


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size`` (``1m``, ``64k``): a disk that really fills."""
    folder.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Take all but ``leave`` bytes of the disk that holds ``folder`` with a ballast file."""
    ballast = folder / "ballast"
    size = shutil.disk_usage(folder).free - leave
    with open(ballast, "wb") as handle:
        while size > 0:
            chunk = min(size, 1 << 20)
            try:
                handle.write(b"\0" * chunk)
                handle.flush()
            except OSError:
                break
            size -= chunk
    return ballast


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """``chattr +i``: no file may be created, renamed or removed in these folders, by root too;
    files already there can still be rewritten in place."""
    frozen = []
    try:
        for path in paths:
            _run("chattr", "+i", str(path))
            frozen.append(path)
        yield
    finally:
        for path in frozen:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` bind-mounted over itself read-only: nothing in it can be written, not even in
    place (EROFS)."""
    _run("mount", "--bind", str(folder), str(folder))
    try:
        _run("mount", "-o", "remount,bind,ro", str(folder))
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def mlflow_env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return {k: v for k, v in env.items() if not k.startswith("MLFLOW_")}


def serve_mlflow(store_uri: str, port: int, log: Path) -> subprocess.Popen:
    """``mlflow server`` on loopback; fails the test with its output if it never answers."""
    mlflow = Path(sys.executable).parent / "mlflow"
    command = [str(mlflow), "server", "--backend-store-uri", store_uri, "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1"]  # fmt: skip
    server = subprocess.Popen(command, env=mlflow_env(), stdout=log.open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True,
                              cwd=log.parent)  # fmt: skip
    deadline = time.monotonic() + MLFLOW_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            time.sleep(1)
    stop(server)
    pytest.fail(f"mlflow server did not answer on port {port} in {MLFLOW_START_S} s")


def stop(server: subprocess.Popen) -> None:
    """The server and its workers (one process group)."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.fail("no PostgreSQL under /usr/lib/postgresql: run `make postgres` (apt postgresql)")
    return found[-1].parent


@contextmanager
def postgres_server() -> Iterator[tuple[str, list[str]]]:
    """A throwaway PostgreSQL server on a loopback port, run as the `postgres` user (the server
    refuses root): its URL and the ``pg_ctl`` command line that stops it (append ``stop``);
    stopped afterwards. A server that cannot start fails the test with its log."""
    bin_dir, user, port = postgres_bin(), getpass.getuser(), free_port()
    root = Path(tempfile.mkdtemp(prefix="seg_f1-postgres-"))  # pytest's tmp is root-only
    shutil.chown(root, "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(root / "db")]
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    steps = [
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(root / "db"), "-A", "trust", "-U", user],
        [*pg_ctl, "-o", options, "-l", str(root / "log"), "-w", "start"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            pytest.fail(f"PostgreSQL did not start: {' '.join(step)}\n{done.stderr}\n{log}")
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres", [*pg_ctl, "-m", "immediate"]
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
