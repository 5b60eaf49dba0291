"""Real servers the state backend tests start and stop: an S3-compatible store (moto) and PostgreSQL.

Nothing is skipped silently: a server that cannot start fails the test with the reason.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import free_port

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class _OneRequestAtATime:
    """WSGI wrapper: moto checks a conditional write's precondition and then writes, in two steps, so two
    concurrent If-None-Match PUTs can both succeed. Real S3 decides each conditional write atomically;
    serialising moto's requests gives its answers that atomicity."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.mutex = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.mutex:
            return list(self.app(environ, start_response))


@contextmanager
def s3_server() -> Iterator[str]:
    """An S3-compatible server (moto) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the test output
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def create_bucket(endpoint_url: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", **_credentials()).create_bucket(
        Bucket=bucket
    )


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _postgres_bin() -> Path:
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name), reverse=True)
    if not versions:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)"
        )
    return versions[0].parent


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (initdb, pg_ctl), stopped and removed after; yields a DSN.

    PostgreSQL refuses to run as root (as CI does): then the cluster runs as the unprivileged `postgres`
    (or `nobody`) user.
    """
    bindir = _postgres_bin()
    run_as: list[str] = []
    owner: str | None = None
    if os.geteuid() == 0:
        owner = "postgres" if _user_exists("postgres") else "nobody"
        run_as = ["runuser", "-u", owner, "--"]
    base = Path(tempfile.mkdtemp(prefix="vapiops-pg-"))
    data = base / "data"
    port = free_port()
    if owner is not None:
        shutil.chown(base, owner)
    try:
        _run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "vapiops", "-A", "trust", "-E", "UTF8"])
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off"
        _run(
            [
                *run_as,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(base / "log"),
                "start",
            ]
        )
        try:
            yield f"postgresql://vapiops@127.0.0.1:{port}/postgres"
        finally:
            _run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
