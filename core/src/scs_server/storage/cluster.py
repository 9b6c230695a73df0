"""A throwaway PostgreSQL cluster from the system's binaries, for tests and benchmarks.

Debian's ``postgresql`` package puts them in ``/usr/lib/postgresql/<version>/bin``. As
root, the server runs as the ``postgres`` user (``runuser``) in a temporary folder it
owns. It listens on 127.0.0.1 on a free port and on a unix socket in that folder, with
durability off (fsync, synchronous_commit, full_page_writes): it is thrown away anyway.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from collections.abc import Iterator


def find_binaries() -> Path | None:
    """The newest ``bin`` folder that has ``initdb``, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _version(path: Path) -> int:
    part = path.parent.parent.name
    return int(part) if part.isdigit() else 0


FIRST_START_ATTEMPTS = 3  # a first start that fails is tried again on another port


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a server started next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def database_of(url: str) -> str:
    """The database name of a URL this cluster handed out (``.../name``)."""
    return url.rsplit("/", 1)[1]


class PostgresCluster:
    """``start()``, ``create_database()`` → a URL, ``stop()``; ``stop``/``start`` again to restart."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="scs-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.user = "postgres" if self._as_postgres else pwd.getpwuid(os.geteuid()).pw_name
        self._initialised = False
        self._maker = ThreadPoolExecutor(1, thread_name_prefix="scs-pg-create")
        self._ahead: Future[str] | None = None

    def _run(self, *args: str) -> None:
        command = [str(self.binaries / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        first = not self._initialised
        if first:
            self._run(
                "initdb", "-N", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8"
            )
            self._initialised = True
        attempts = FIRST_START_ATTEMPTS if first else 1
        for attempt in range(attempts):
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=200"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                          "-o", options, "start")  # fmt: skip
            except subprocess.CalledProcessError:
                if attempt + 1 >= attempts:
                    raise
                # another process may have taken the free port since it was picked (no
                # URL was handed out yet, so another port is fine)
                self.port = free_port()
            else:
                return

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: clean; ``immediate``: a crash, loses unflushed commits)."""
        self._settle()
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int:
        """The running server's process id (its backends are this process's children)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; its URL.

        The next one is made ahead in a thread (``CREATE DATABASE`` takes 0.2-0.7 s here),
        so a test suite mostly finds one ready.
        """
        ahead, self._ahead = self._ahead, None
        name = None
        if ahead is not None:
            with contextlib.suppress(Exception):  # made before a restart, say: make another
                name = ahead.result(timeout=60)
        if name is None:
            name = self._create()
        self._ahead = self._maker.submit(self._create)
        return self.url(name)

    def _create(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def _settle(self) -> None:
        """Let a database being made ahead finish (or fail) before the server stops."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            with contextlib.suppress(Exception):
                ahead.result(timeout=60)

    def terminate(self, query_like: str, url: str | None = None) -> int:
        """End the server processes whose last query matches (e.g. ``LISTEN%``), only on
        ``url``'s database when given; return how many."""
        database = database_of(url) if url else None
        with psycopg.connect(self.url(), autocommit=True) as conn:
            cursor = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE query LIKE %s AND pid <> pg_backend_pid()"
                " AND (%s::text IS NULL OR datname = %s::text)",
                (query_like, database, database),
            )
            row = cursor.fetchone()
            return int(row[0]) if row else 0

    @contextlib.contextmanager
    def connections_refused(self, url: str) -> Iterator[None]:
        """While inside: ``url``'s database takes no new connection (open ones go on), so
        a change listener cut off with ``terminate`` cannot reconnect."""
        database = database_of(url)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            try:
                yield
            finally:
                conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        self._maker.shutdown(wait=True)
        # in a detached process: a test session's cluster holds hundreds of databases,
        # whose removal kept each pytest worker ~45 s at its end
        try:
            subprocess.run(
                ["sh", "-c", 'rm -rf -- "$1" > /dev/null 2>&1 &', "sh", str(self.root)],
                check=True,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.CalledProcessError):
            shutil.rmtree(self.root, ignore_errors=True)
