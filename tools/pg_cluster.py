"""Throwaway PostgreSQL clusters for the tests, the demo and the benchmarks.

`PgCluster` runs initdb into a fresh temporary directory, serves it on a free port of
127.0.0.1 only (trust authentication) with fsync and synchronous_commit durable, and removes
it on cleanup(), at the end of its ``with`` block, or at the latest when this process exits.
As root, the server commands run as the ``postgres`` OS user, which owns the directory.

    python -m tools.pg_cluster run [--keep] -- CMD [ARGS...]   # {url} in ARGS -> database URL
    python -m tools.pg_cluster available [--bin-dir DIR]       # exit 0 if the binaries exist
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString, Self
from urllib.parse import quote

if TYPE_CHECKING:  # psycopg (the "postgres" extra) is imported only when a database is used
    from psycopg import sql

HOST = "127.0.0.1"
SERVER_USER = "postgres"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_ROOT = Path("/usr/lib/postgresql")
STOP_MODES = ("smart", "fast", "immediate")
COMMAND_TIMEOUT = 120.0
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PORT_ATTEMPTS = 3
DESCRIPTION = "Throwaway PostgreSQL clusters on 127.0.0.1 (tests, demo, benchmarks)."
RUN_HELP = "run CMD against database 'trial' of a fresh cluster: {url} in ARGS, $TRIAL_LEDGER_DB"
Rows = list[tuple[Any, ...]]
_LIVE: dict[PgCluster, int] = {}  # cluster -> pid of the process that must clean it up


class ClusterError(RuntimeError):
    """A cluster could not be found, started, stopped or reached; says what failed and why."""

    def __init__(self, message: str, command: Sequence[str] = (), output: str = "") -> None:
        self.command = list(command)
        self.output = output
        shown = f"\ncommand: {shlex.join(self.command)}" if self.command else ""
        shown += f"\noutput (last lines):\n{_tail(output)}" if output.strip() else ""
        super().__init__(message + shown)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _candidate_bin_dirs() -> Iterator[Path]:
    yield from sorted(  # highest version first: 15 before 9.6
        DEBIAN_ROOT.glob("*/bin"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)],
        reverse=True,
    )
    pg_config = shutil.which("pg_config")  # asked only when the folders above fall short
    if pg_config is not None:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if done.returncode == 0 and done.stdout.strip():
            yield Path(done.stdout.strip())


def find_bin_dir(bin_dir: Path | None = None) -> Path:
    """The folder with initdb, pg_ctl and postgres: *bin_dir* if given, else the highest
    version under /usr/lib/postgresql/*/bin, else ``pg_config --bindir``."""
    lacking: dict[Path, list[str]] = {}
    for candidate in [bin_dir] if bin_dir is not None else _candidate_bin_dirs():
        lacking[candidate] = [n for n in SERVER_BINARIES if not os.access(candidate / n, os.X_OK)]
        if not lacking[candidate]:
            return candidate
    looked = "; ".join(f"{c} lacks {', '.join(m)}" for c, m in lacking.items())
    raise ClusterError(
        "PostgreSQL server binaries not found: "
        f"{looked or f'no {DEBIAN_ROOT}/*/bin and no pg_config'} "
        "(Debian: apt-get install postgresql)"
    )


def binaries_available(bin_dir: Path | None = None) -> bool:
    """True when `find_bin_dir` finds initdb, pg_ctl and postgres."""
    try:
        find_bin_dir(bin_dir)
    except ClusterError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class PgCluster:
    """One throwaway PostgreSQL cluster on 127.0.0.1; see the module docstring."""

    host = HOST

    def __init__(self, base_dir: Path | None = None, *, bin_dir: Path | None = None) -> None:
        self._base_dir = base_dir
        self._bin_dir_choice = bin_dir
        self._bin_dir: Path | None = None
        self._root: Path | None = None
        self._port: int | None = None
        self._running = False

    @property
    def port(self) -> int:
        if self._port is None:
            raise ClusterError("the cluster has no port: start() it first")
        return self._port

    @property
    def directory(self) -> Path:
        """The cluster's own temporary directory (data/ and server.log inside)."""
        if self._root is None:
            raise ClusterError("the cluster has no directory: start() it first")
        return self._root

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def running(self) -> bool:
        return self._running

    def url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{quote(user, safe='')}@{HOST}:{self.port}/{quote(dbname, safe='')}"

    def log_text(self) -> str:
        """The server log so far ('' before the server first ran)."""
        if self._root is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> Self:
        """initdb into a fresh temporary directory and serve it on a free port."""
        if self._root is not None:
            raise ClusterError(f"cluster in {self._root} was already started; use restart()")
        self._bin_dir = find_bin_dir(self._bin_dir_choice)
        self._root = self._make_directory()
        _LIVE[self] = os.getpid()
        try:
            self._initdb()
            self._start_on_free_port()
        except BaseException:
            self.cleanup()
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (pg_ctl stop -m MODE); the data directory stays."""
        if mode not in STOP_MODES:
            raise ValueError(f"stop mode {mode!r} is not one of {', '.join(STOP_MODES)}")
        if not self._running:
            return
        command = [self._bin("pg_ctl"), "stop", "-w", "-t", "60", "-D", str(self.data_dir)]
        try:
            self._run([*command, "-m", mode], f"stopping the server ({mode})")
        except ClusterError:
            if (self.data_dir / "postmaster.pid").exists():
                raise  # else it had already stopped (killed from outside)
        self._running = False

    def crash(self) -> None:
        """pg_ctl stop -m immediate: no shutdown checkpoint; the next start recovers from WAL."""
        self.stop("immediate")

    def restart(self) -> None:
        """Start again on the same data directory and port, once it accepts connections."""
        if self._root is None or self._port is None:
            raise ClusterError("restart() needs a started cluster; use start()")
        self.stop("fast")
        self._pg_ctl_start(self._port)

    def cleanup(self) -> None:
        """Stop the server if it runs and remove the directory; safe to call twice."""
        if self._root is not None:
            try:
                self.stop("immediate")  # its data is thrown away: no shutdown checkpoint
            except ClusterError:
                self._kill_postmaster()
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = self._port = None
        _LIVE.pop(self, None)

    def __enter__(self) -> Self:
        return self if self._root is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def execute(self, query: LiteralString | sql.Composed, dbname: str = "postgres") -> Rows:
        """Run one statement as superuser in autocommit mode; its rows ([] if none)."""
        import psycopg  # noqa: PLC0415 - see the TYPE_CHECKING import

        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(query)
            return cursor.fetchall() if cursor.description is not None else []

    def create_database(self, name: str) -> str:
        """Create database *name* (a plain identifier); its superuser URL."""
        self._on_database("CREATE DATABASE {}", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database *name* if it exists, ending any connections still open to it."""
        self._on_database("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _on_database(self, statement: LiteralString, name: str) -> None:
        from psycopg import sql  # noqa: PLC0415 - see the TYPE_CHECKING import

        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"database name {name!r} is not an identifier: [a-z_][a-z0-9_]*")
        self.execute(sql.SQL(statement).format(sql.Identifier(name)))

    def _bin(self, name: str) -> str:
        return str((self._bin_dir or find_bin_dir(self._bin_dir_choice)) / name)

    def _as_server_user(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", SERVER_USER, "--", *command]

    def _run(self, command: list[str], what: str, log: bool = False) -> None:
        full = self._as_server_user(command)
        try:
            done = subprocess.run(  # noqa: S603 - argv of our own, no shell
                full,
                capture_output=True,
                text=True,
                check=False,
                cwd=self._root,
                env={k: v for k, v in os.environ.items() if not k.startswith("PG")},  # libpq's
                timeout=COMMAND_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ClusterError(f"{what} failed: {error}", full, self.log_text()) from error
        if done.returncode != 0:
            output = done.stdout + done.stderr
            if log:
                output += f"\n--- server log {self.log_path} ---\n{_tail(self.log_text())}"
            raise ClusterError(f"{what} failed (exit {done.returncode})", full, output)

    def _make_directory(self) -> Path:
        parent = self._base_dir if self._base_dir is not None else Path(tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="trial-ledger-pg-", dir=parent))  # mode 0700
        try:
            if os.geteuid() == 0:
                self._hand_to_server_user(root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return root

    def _hand_to_server_user(self, root: Path) -> None:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError as error:
            raise ClusterError(f"running as root needs a {SERVER_USER!r} OS user") from error
        os.chown(root, user.pw_uid, user.pw_gid)
        try:
            self._run([shutil.which("test") or "/usr/bin/test", "-x", str(root)], "test -x")
        except ClusterError as error:
            raise ClusterError(
                f"the {SERVER_USER} OS user cannot reach {root}: make its parent folders "
                "traversable (chmod o+x) or pass another base_dir"
            ) from error

    def _initdb(self) -> None:
        base = [self._bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres"]
        base += ["--encoding=UTF8", "--no-sync"]  # --no-sync: initdb's own files; not the server
        try:
            self._run([*base, "--locale=C.UTF-8"], "initdb")
        except ClusterError as error:
            if "locale" not in error.output:
                raise
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._run([*base, "--no-locale"], "initdb")

    def _start_on_free_port(self) -> None:
        for attempt in range(_PORT_ATTEMPTS):
            port, seen = _free_port(), len(self.log_text())
            try:
                self._pg_ctl_start(port)
            except ClusterError:  # another process took the port first: try another one
                if attempt == _PORT_ATTEMPTS - 1 or "in use" not in self.log_text()[seen:]:
                    raise
            else:
                self._port = port
                return

    def _pg_ctl_start(self, port: int) -> None:
        options = (
            f"-c listen_addresses={HOST} -c port={port} -c max_connections=100 -c "
            f"shared_buffers=64MB -c unix_socket_directories={shlex.quote(str(self.data_dir))}"
        )
        command = [self._bin("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data_dir)]
        command += ["-l", str(self.log_path), "-o", options]
        self._run(command, f"starting the server on {HOST}:{port}", log=True)
        self._running = True

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid_file = self.data_dir / "postmaster.pid"
            os.kill(int(pid_file.read_text(encoding="utf-8").split()[0]), signal.SIGKILL)
        self._running = False


@atexit.register
def _cleanup_live_clusters() -> None:
    for cluster, owner in list(_LIVE.items()):
        if owner != os.getpid():  # a forked child must not remove its parent's cluster
            continue
        try:
            cluster.cleanup()
        except (ClusterError, OSError) as error:
            print(f"pg_cluster: could not clean up a cluster at exit: {error}", file=sys.stderr)


def _run_command(command: list[str], *, keep: bool) -> int:
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))  # still cleans up
    cluster = PgCluster()
    kept = False
    try:
        cluster.start()
        url = cluster.create_database("trial")
        print(f"pg_cluster: {url}", file=sys.stderr, flush=True)
        argv = [arg.replace("{url}", url) for arg in command]
        try:
            code = subprocess.run(  # noqa: S603 - the caller's own command line
                argv, env={**os.environ, "TRIAL_LEDGER_DB": url}, check=False
            ).returncode
        except OSError as error:
            print(f"pg_cluster: cannot run {argv[0]!r}: {error}", file=sys.stderr)
            code = 127
        if keep:
            _LIVE.pop(cluster, None)  # outlives this process
            kept = True
            pg_ctl = [cluster._bin("pg_ctl"), "stop", "-D", str(cluster.data_dir)]
            stop = f"{shlex.join(cluster._as_server_user(pg_ctl))} && rm -rf {cluster.directory}"
            print(f"pg_cluster: kept running at {url}; stop it with: {stop}", file=sys.stderr)
        return code if code >= 0 else 128 - code
    except ClusterError as error:
        print(f"pg_cluster: {error}", file=sys.stderr)
        return 2
    finally:
        if not kept:
            cluster.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    split = args.index("--") if "--" in args else len(args)
    own, command = args[:split], args[split + 1 :]
    parser = argparse.ArgumentParser(prog="python -m tools.pg_cluster", description=DESCRIPTION)
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", usage="%(prog)s [--keep] -- CMD [ARGS...]", help=RUN_HELP)
    run.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    available = actions.add_parser("available", help="exit 0 if the server binaries exist")
    available.add_argument("--bin-dir", type=Path, default=None, help="look only in this folder")
    parsed = parser.parse_args(own)
    if parsed.action == "available":
        try:
            print(find_bin_dir(parsed.bin_dir))
        except ClusterError as error:
            print(f"pg_cluster: {error}", file=sys.stderr)
            return 1
        return 0
    if not command:
        run.error("give the command to run after --")
    return _run_command(command, keep=bool(parsed.keep))


if __name__ == "__main__":
    sys.exit(main())
