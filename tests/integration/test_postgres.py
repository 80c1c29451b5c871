"""The user's PostgreSQL scenario against a real server: backup, migration, verification, rollback.

One PostgreSQL server per test session, from the Debian ``postgresql`` package:
``initdb`` into a temporary directory, ``pg_ctl`` on a free loopback port, stopped
at the end. Local (socket) connections are ``trust`` for the test's own setup and
assertions; TCP connections need a password (``scram-sha-256``), so the runbook,
which connects over 127.0.0.1, proves that ``RUNBOOK_SECRET_PG_PASSWORD`` reached
psql, pg_dump and pg_restore as ``PGPASSWORD``.

Every scenario gets a fresh database owned by a password role, with a ``users``
table of a few thousand rows. Runs that several assertions share are
module-scoped fixtures. Without the server binaries the tests skip, and fail
under ``CI=true`` (``.ci/run`` installs the package). ``pytest -k postgres``
selects them all.
"""

from __future__ import annotations

import itertools
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager

from converter.records.journal import read_journal

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_JA = REPO / "templates" / "postgres-phone-number.ja.md"
TEMPLATE_EN = REPO / "templates" / "postgres-phone-number.en.md"
NOTEBOOK_JA = REPO / "notebooks" / "postgres-phone-number.ja.ipynb"
ROLE = "runbook_admin"
PASSWORD = f"Pg#{secrets.token_hex(10)}!pw"  # unique: any occurrence in a file is a leak
OPERATOR = "pg-tester"
ROWS = 3000
CLIENT_TOOLS = ("psql", "pg_dump", "pg_restore", "pg_isready")
CELL_TIMEOUT_S = 120


# --------------------------------------------------------------------------- the server


def _unavailable(reason: str) -> None:
    """Skip locally; fail under CI=true, where .ci/run installs PostgreSQL."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(reason)


def _server_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<ver>/bin holding initdb and pg_ctl."""

    def version(path: str) -> int:
        part = Path(path).parent.name
        return int(part) if part.isdigit() else 0

    for bindir in sorted(glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if (Path(bindir) / "initdb").is_file() and (Path(bindir) / "pg_ctl").is_file():
            return Path(bindir)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    port: int
    socket_dir: Path
    log: Path

    def sql(self, sql: str, database: str = "postgres", user: str = "postgres") -> str:
        """Run SQL over the (trusted) Unix socket; tuples only, unaligned; raise on error."""
        proc = subprocess.run(
            [
                "psql",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                database,
                "-X",
                "-w",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
            ],
            input=sql,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=_clean_env(),
        )
        if proc.returncode != 0:
            raise AssertionError(f"psql failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout

    def params(self, database: str, backup_dir: Path) -> list[str]:
        """The runbook's -p arguments for this server (the password comes from the env)."""
        return [
            "-p",
            "pg_host",
            "127.0.0.1",
            "-p",
            "pg_port",
            str(self.port),
            "-p",
            "pg_database",
            database,
            "-p",
            "pg_user",
            ROLE,
            "-p",
            "backup_dir",
            str(backup_dir),
        ]


def _clean_env() -> dict[str, str]:
    """Our environment without libpq or runbook settings an operator's shell may carry."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PG", "RUNBOOK_"))}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _server_bindir()
    if bindir is None:
        _unavailable(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin"
            " (apt-get install postgresql)"
        )
    missing = [tool for tool in CLIENT_TOOLS if shutil.which(tool) is None]
    if missing:
        _unavailable(f"PostgreSQL client tools not on PATH: {', '.join(missing)}")
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="runbook-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            _unavailable("running as root and there is no 'postgres' user to run the server as")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "start",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    if started.returncode != 0:
        text = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise AssertionError(f"pg_ctl start failed: {started.stdout}{started.stderr}\n{text}")
    server = PostgresServer(port=port, socket_dir=base, log=log)
    try:
        server.sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}';")
        yield server
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=90,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


_database_numbers = itertools.count(1)

SEED = f"""
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email varchar(255) NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, {ROWS}) g;
CREATE TABLE accounts (id bigserial PRIMARY KEY, phone_number text);
ANALYZE;
"""


@pytest.fixture(scope="session")
def new_database(postgres_server) -> Callable[[str], str]:
    """``new_database(label)`` → the name of a fresh database owned by the password role, seeded."""

    def create(label: str) -> str:
        name = f"rb_{next(_database_numbers)}_{re.sub('[^a-z0-9_]', '_', label.lower())}"[:63]
        postgres_server.sql(f"CREATE DATABASE {name} OWNER {ROLE};")
        postgres_server.sql(SEED, database=name, user=ROLE)
        return name

    return create


def schema(server: PostgresServer, database: str) -> list[str]:
    """Columns of users and every index in public, as information_schema / pg_indexes see them."""
    return server.sql(
        """
        SELECT 'column ' || column_name || ' ' || data_type
               || coalesce('(' || character_maximum_length || ')', '')
               || ' nullable=' || is_nullable
          FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'
        UNION ALL
        SELECT 'index ' || tablename || ' ' || indexname || ' ' || indexdef
          FROM pg_indexes WHERE schemaname = 'public'
        ORDER BY 1;
        """,
        database,
    ).splitlines()


def row_count(server: PostgresServer, database: str) -> int:
    return int(server.sql("SELECT count(*) FROM users;", database).strip())


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    record: Path | None
    records: Path
    database: str
    backup_dir: Path
    before: list[str]
    after: list[str]
    rows_before: int
    rows_after: int

    @property
    def manifest(self) -> dict:
        assert self.record is not None, self.stdout + self.stderr
        return json.loads((self.record / "manifest.json").read_text(encoding="utf-8"))

    def steps(self) -> dict[str, dict]:
        return {s["id"]: s for s in self.manifest["steps"]}

    def log(self, step: str) -> str:
        assert self.record is not None
        return (self.record / "logs" / f"{step}.log").read_text(encoding="utf-8")


SECRET_ENV = {"RUNBOOK_SECRET_PG_PASSWORD": PASSWORD, "RUNBOOK_OPERATOR": OPERATOR}


@pytest.fixture(scope="module")
def run_scenario(postgres_server, new_database, run_cli, run_inprocess, tmp_path_factory):
    """``run_scenario(label, *extra, prepare=SQL, source=MD, in_subprocess=False, secret=True)``.

    Returns a :class:`Run`.

    Each call runs the runbook on a fresh database (``prepare`` runs there first, as the
    password role) with its own records and backup directories.
    """

    def go(
        label: str,
        *extra: str,
        prepare: str | None = None,
        source: Path = TEMPLATE_JA,
        in_subprocess: bool = False,
        secret: bool = True,
    ) -> Run:
        database = new_database(label)
        if prepare:
            postgres_server.sql(prepare, database=database, user=ROLE)
        work = tmp_path_factory.mktemp(f"pg-{label}")
        records, backup_dir = work / "records", work / "backups"
        before, rows_before = (
            schema(postgres_server, database),
            row_count(postgres_server, database),
        )
        args = [
            "run",
            str(source),
            "--records",
            str(records),
            "--no-progress",
            *postgres_server.params(database, backup_dir),
            *extra,
        ]
        runner = run_cli if in_subprocess else run_inprocess
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PG")}
        try:
            result = runner(
                args, cwd=work, env=SECRET_ENV if secret else {"RUNBOOK_OPERATOR": OPERATOR}
            )
        finally:
            os.environ.update(saved)
        return Run(
            result.rc,
            result.stdout,
            result.stderr,
            result.record_dir,
            records,
            database,
            backup_dir,
            before,
            schema(postgres_server, database),
            rows_before,
            row_count(postgres_server, database),
        )

    return go


@pytest.fixture(scope="module")
def happy(run_scenario) -> Run:
    return run_scenario("happy", "--confirm", "all", in_subprocess=True)


COLUMN_EXISTS = ("-p", "column_name", "email")
INDEX_ELSEWHERE = "CREATE INDEX idx_users_phone_number ON accounts (phone_number);"


@pytest.fixture(scope="module")
def column_exists(run_scenario) -> Run:
    return run_scenario("column_exists", "--confirm", "all", *COLUMN_EXISTS)


@pytest.fixture(scope="module")
def column_exists_rolled_back(run_scenario) -> Run:
    return run_scenario(
        "column_exists_rb", "--confirm", "all", *COLUMN_EXISTS, "--rollback-on-failure"
    )


@pytest.fixture(scope="module")
def index_elsewhere(run_scenario) -> Run:
    return run_scenario("index_elsewhere", "--confirm", "all", prepare=INDEX_ELSEWHERE)


@pytest.fixture(scope="module")
def index_elsewhere_rolled_back(run_scenario) -> Run:
    return run_scenario(
        "index_elsewhere_rb", "--confirm", "all", "--rollback-on-failure", prepare=INDEX_ELSEWHERE
    )


@pytest.fixture(scope="module")
def dry_run(run_scenario) -> Run:
    return run_scenario("dry_run", "--confirm", "all", "--dry-run")


# --------------------------------------------------------------------------- happy path


def test_postgres_happy_path_adds_the_column_and_index(happy, postgres_server):
    assert happy.rc == 0, happy.stdout + happy.stderr
    columns = postgres_server.sql(
        "SELECT column_name || ' ' || data_type || ' ' || character_maximum_length"
        " FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'users' AND column_name = 'phone_number';",
        happy.database,
    ).splitlines()
    assert columns == ["phone_number character varying 20"]
    indexes = postgres_server.sql(
        "SELECT tablename || ' ' || indexdef FROM pg_indexes"
        " WHERE indexname = 'idx_users_phone_number';",
        happy.database,
    ).splitlines()
    assert indexes == [
        "users CREATE INDEX idx_users_phone_number ON public.users USING btree (phone_number)"
    ]
    assert happy.rows_after == happy.rows_before == ROWS
    assert set(happy.after) - set(happy.before) == {
        "column phone_number character varying(20) nullable=YES",
        (
            "index users idx_users_phone_number CREATE INDEX idx_users_phone_number"
            " ON public.users USING btree (phone_number)"
        ),
    }


def test_postgres_happy_path_dump_is_readable(happy):
    (dump,) = happy.backup_dir.glob("*.dump")
    assert dump.name.startswith(happy.database + "-")
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert re.search(r"TABLE DATA public users ", listing), listing
    state = (happy.backup_dir / "users-phone_number.state").read_text(encoding="utf-8").splitlines()
    assert (
        f"row_count={ROWS}" in state and "column_existed=0" in state and "index_existed=0" in state
    )
    assert f"dump={dump}" in state


def test_postgres_happy_path_record(happy):
    manifest = happy.manifest
    assert manifest["status"] == "succeeded"
    assert manifest["runbook"]["id"] == "postgres-phone-number"
    assert manifest["operator"] == OPERATOR
    assert manifest["parameters"]["pg_password"] == "***"
    assert manifest["parameters"]["pg_user"] == ROLE
    steps = happy.steps()
    for step in ("pre-1", "pre-2", "1-1", "1-2", "2-1", "3-1", "3-2", "3-3", "3-4"):
        assert steps[step]["status"] == "succeeded" and steps[step]["exit_code"] == 0, steps[step]
    for step in ("rollback-1", "rollback-2", "rollback-3"):
        assert steps[step]["status"] in ("skipped", "not_run"), steps[step]
    assert steps["trouble-1"]["status"] == steps["trouble-2"]["status"] == "manual"
    assert "ALTER TABLE" in happy.log("2-1") and "CREATE INDEX" in happy.log("2-1")
    assert '"idx_users_phone_number" btree (phone_number)' in happy.log("3-1")
    assert f"users 行数: 変更前 {ROWS} / 現在 {ROWS}" in happy.log("3-2")
    assert "accepting connections" in happy.log("3-3")
    assert re.search(
        r"Index (Only )?Scan using idx_users_phone_number on users", happy.log("3-4")
    ), happy.log("3-4")
    assert happy.stdout.strip().splitlines()[-1].endswith(happy.record.name)


# --------------------------------------------------------------------------- induced failures


@pytest.mark.parametrize("scenario", ["column_exists", "index_elsewhere"])
def test_postgres_failure_exits_1_and_changes_nothing(scenario, request):
    run: Run = request.getfixturevalue(scenario)
    assert run.rc == 1, run.stdout + run.stderr
    assert (
        run.after == run.before
    )  # one transaction: no column without its index, nothing half-done
    assert run.rows_after == run.rows_before
    manifest = run.manifest
    assert manifest["status"] == "failed"
    assert manifest["failure"]["step"] == "2-1"
    assert "rollback" not in manifest or not manifest["rollback"]
    steps = run.steps()
    assert (
        steps["2-1"]["status"] == "failed" and steps["2-1"]["exit_code"] == 3
    )  # psql ON_ERROR_STOP
    assert all(steps[s]["status"] == "not_run" for s in ("3-1", "3-2", "3-3", "3-4"))
    assert all(
        steps[s]["status"] in ("skipped", "not_run")
        for s in ("rollback-1", "rollback-2", "rollback-3")
    )


PSQL_ERRORS = {
    "column_exists_rolled_back": 'ERROR:  column "email" of relation "users" already exists',
    "index_elsewhere_rolled_back": 'ERROR:  relation "idx_users_phone_number" already exists',
}


@pytest.mark.parametrize("scenario", sorted(PSQL_ERRORS))
def test_postgres_rollback_on_failure_restores_the_schema_exactly(scenario, request):
    run: Run = request.getfixturevalue(scenario)
    assert run.rc == 1, run.stdout + run.stderr
    assert run.after == run.before
    assert run.rows_after == run.rows_before == ROWS
    manifest = run.manifest
    assert manifest["status"] == "failed"
    assert manifest["failure"]["step"] == "2-1"
    assert manifest["rollback"]["status"] == "succeeded", manifest["rollback"]
    steps = run.steps()
    assert steps["2-1"]["status"] == "failed"
    for step in ("rollback-1", "rollback-2", "rollback-3"):
        assert steps[step]["status"] == "succeeded" and steps[step]["exit_code"] == 0, steps[step]
    # the record shows psql's error on the failed step, and the rollback's own output
    assert PSQL_ERRORS[scenario] in run.log("2-1")
    record_nb = (run.record / "record.ipynb").read_text(encoding="utf-8")
    assert PSQL_ERRORS[scenario].replace('"', '\\"') in record_nb
    assert "復元は不要" in run.log("rollback-2")
    assert "users のスキーマは変更前と一致しています" in run.log("rollback-3")
    events = [
        (e["event"], e.get("step"))
        for e in read_journal(run.record / "journal.jsonl")
        if e["event"] in ("step_start", "step_end")
    ]
    assert ("step_end", "2-1") in events and ("step_start", "rollback-1") in events
    assert "rollback: succeeded" in run.stdout


def test_postgres_rollback_never_drops_a_column_that_existed(
    column_exists_rolled_back, postgres_server
):
    run = column_exists_rolled_back
    assert "column email character varying(255) nullable=NO" in run.after
    assert "カラム: 変更前から存在するため削除しない" in run.log("rollback-1")
    assert "ALTER TABLE" not in run.log("rollback-1")
    emails = postgres_server.sql("SELECT count(DISTINCT email) FROM users;", run.database).strip()
    assert int(emails) == ROWS


def test_postgres_rollback_never_drops_an_index_that_existed(
    index_elsewhere_rolled_back, postgres_server
):
    run = index_elsewhere_rolled_back
    owner = postgres_server.sql(
        "SELECT tablename FROM pg_indexes WHERE indexname = 'idx_users_phone_number';", run.database
    ).split()
    assert owner == ["accounts"]
    assert "インデックス: 変更前から存在するため削除しない" in run.log("rollback-1")
    assert "DROP INDEX" not in run.log("rollback-1")


# --------------------------------------------------------------------------- dry run, secrets


def test_postgres_dry_run_touches_nothing(dry_run):
    assert dry_run.rc == 0, dry_run.stdout + dry_run.stderr
    assert dry_run.after == dry_run.before
    assert dry_run.rows_after == dry_run.rows_before
    assert not dry_run.backup_dir.exists() or not any(dry_run.backup_dir.iterdir())
    manifest = dry_run.manifest
    assert manifest["dry_run"] is True
    assert all(s["exit_code"] is None for s in manifest["steps"]), manifest["steps"]


def test_postgres_password_is_in_no_record_log_or_index(
    happy, column_exists_rolled_back, index_elsewhere_rolled_back, dry_run
):
    runs = [happy, column_exists_rolled_back, index_elsewhere_rolled_back, dry_run]
    needle = PASSWORD.encode()
    scanned = 0
    for run in runs:
        assert needle.decode() not in run.stdout + run.stderr
        for root in (run.records, run.backup_dir):
            for path in root.rglob("*") if root.exists() else ():
                if path.is_file():
                    scanned += 1
                    assert needle not in path.read_bytes(), path
    assert scanned > 40
    # the records index (SQLite) was among them, and the password did reach the server:
    # pre-2 connected over TCP, where the server demands it (scram-sha-256)
    assert any((run.records / "index.sqlite").exists() for run in runs)
    assert happy.steps()["pre-2"]["status"] == "succeeded"


def test_postgres_without_the_secret_fails_to_connect(run_scenario):
    run = run_scenario("no_secret", "--confirm", "all", secret=False)
    assert run.rc == 1, run.stdout + run.stderr
    assert run.manifest["failure"]["step"] == "pre-2"
    assert "password" in run.log("pre-2")
    assert run.after == run.before
    assert not run.backup_dir.exists()


# --------------------------------------------------------------------------- restore from the dump


def test_postgres_rollback_restores_the_dump_when_dropping_is_not_enough(
    run_scenario, postgres_server, tmp_path
):
    """After a success, a change the column drop cannot undo: rollback 2 restores the dump."""
    run = run_scenario("restore", "--confirm", "all")
    assert run.rc == 0, run.stdout + run.stderr
    postgres_server.sql("ALTER TABLE users ALTER COLUMN email TYPE text;", run.database, user=ROLE)
    records = tmp_path / "records"
    params = postgres_server.params(run.database, run.backup_dir)
    papermill = shutil.which("papermill")
    command = [papermill] if papermill else [sys.executable, "-m", "papermill"]
    proc = subprocess.run(
        [
            *command,
            str(NOTEBOOK_JA),
            str(tmp_path / "out.ipynb"),
            "--log-level",
            "WARNING",
            *params,
            "-p",
            "rollback",
            "True",
            "-p",
            "confirm",
            "all",
            "-p",
            "runbook_mode",
            "headless",
            "-p",
            "records_dir",
            str(records),
        ],
        cwd=tmp_path,
        env={**_clean_env(), **SECRET_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert schema(postgres_server, run.database) == run.before
    assert row_count(postgres_server, run.database) == ROWS
    (record,) = records.glob("postgres-phone-number/*")
    rollback_1 = (record / "logs" / "rollback-1.log").read_text(encoding="utf-8")
    rollback_2 = (record / "logs" / "rollback-2.log").read_text(encoding="utf-8")
    assert "DROP INDEX" in rollback_1 and "ALTER TABLE" in rollback_1
    assert "email      | text" in rollback_2 and rollback_2.rstrip().endswith("復元完了")
    assert "users のスキーマは変更前と一致しています" in (
        record / "logs" / "rollback-3.log"
    ).read_text(encoding="utf-8")
    for path in [*records.rglob("*"), tmp_path / "out.ipynb"]:
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------- English twin


def test_postgres_english_twin_runs_the_same_scenario(run_scenario, postgres_server):
    run = run_scenario("english", "--confirm", "all", source=TEMPLATE_EN)
    assert run.rc == 0, run.stdout + run.stderr
    assert run.manifest["status"] == "succeeded"
    assert "column phone_number character varying(20) nullable=YES" in run.after
    assert "data integrity: OK" in run.log("3-2")


# ------------------------------------------------------------ interactive, through a real kernel

TICK = """
import ipywidgets
from ipywidgets.widgets import widget as _widget_module

_all = getattr(_widget_module, "_instances", None)
if _all is None:
    _all = ipywidgets.Widget.widgets
_css = lambda i: "".join(c if c.isalnum() or c in "-_" else "-" for c in i)
_wanted = {{"runbook-check-" + _css(i) for i in {ids!r}}}
_ticked = 0
for _box in list(_all.values()):
    if isinstance(_box, ipywidgets.Checkbox) and _wanted & set(_box._dom_classes):
        _box.value = True
        _ticked += 1
print(_ticked)
"""


class Kernel:
    """A real ipykernel with the environment JupyterLab would give it for this notebook."""

    def __init__(self, work: Path, notebook: Path, records: Path):
        env = {k: v for k, v in _clean_env().items() if not k.startswith("JPY_")}
        env.update(
            RUNBOOK_RECORDS=str(records),
            RUNBOOK_NOTEBOOK=str(notebook),
            RUNBOOK_OPERATOR=OPERATOR,
            RUNBOOK_SECRET_PG_PASSWORD=PASSWORD,
        )
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=str(work))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=CELL_TIMEOUT_S)

    def execute(self, code: str) -> tuple[dict, str]:
        messages: list[dict] = []
        reply = self.client.execute_interactive(
            code, timeout=CELL_TIMEOUT_S, output_hook=messages.append
        )
        text = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
        return reply["content"], text

    def shutdown(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=False)


def test_postgres_interactive_run_has_the_same_effects_and_a_complete_record(
    postgres_server, new_database, happy, tmp_path
):
    database = new_database("interactive")
    before = schema(postgres_server, database)
    records, backup_dir = tmp_path / "records", tmp_path / "backups"
    cells = [c for c in nbformat.read(NOTEBOOK_JA, as_version=4).cells if c.cell_type == "code"]
    overrides = "\n".join(
        [
            'pg_host = "127.0.0.1"',
            f"pg_port = {postgres_server.port}",
            f"pg_database = {database!r}",
            f"pg_user = {ROLE!r}",
            f"backup_dir = {str(backup_dir)!r}",
        ]
    )
    kernel = Kernel(tmp_path, NOTEBOOK_JA, records)
    gates = 0
    try:
        for cell in cells:
            for _attempt in range(5):
                reply, _ = kernel.execute(cell.source)
                if reply["status"] == "ok" or reply.get("ename") != "StepBlocked":
                    break
                ids = [i.strip() for i in reply["evalue"].split("unchecked:", 1)[1].split(",")]
                tick, ticked = kernel.execute(TICK.format(ids=ids))
                assert tick["status"] == "ok" and int(ticked) == len(ids), (tick, ticked, ids)
                gates += 1
            assert reply["status"] == "ok", (cell.metadata.get("runbook"), reply)
            if cell.metadata.get("runbook", {}).get("role") == "parameters":
                reply, _ = kernel.execute(
                    overrides
                )  # what papermill's injected-parameters cell does
                assert reply["status"] == "ok", reply
    finally:
        kernel.shutdown()
    assert gates == 7  # before 1-1 (prerequisites + pre-execution checklist), then each verify list

    after = schema(postgres_server, database)
    assert set(after) - set(before) == set(happy.after) - set(
        happy.before
    )  # the same effects as headless
    assert row_count(postgres_server, database) == ROWS
    assert len(list(backup_dir.glob("*.dump"))) == 1

    (record,) = [p.parent for p in records.glob("*/*/manifest.json")]
    for name in ("record.ipynb", "record.html", "journal.jsonl", "manifest.json"):
        assert (record / name).is_file(), name
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "succeeded", manifest.get("failure")
    assert manifest["mode"] == "interactive"
    assert manifest["operator"] == OPERATOR
    assert manifest["parameters"]["pg_password"] == "***"
    assert manifest["parameters"]["pg_database"] == database
    steps = {s["id"]: s for s in manifest["steps"]}
    assert [
        steps[s]["status"]
        for s in ("pre-1", "pre-2", "1-1", "1-2", "2-1", "3-1", "3-2", "3-3", "3-4")
    ] == ["succeeded"] * 9
    checks = {c["id"]: c for c in manifest["checks"]}
    for item in (
        "prerequisites-1.1",
        "checklists-1.1",
        "1-1.verify.1",
        "2-1.verify.2",
        "3-3.verify.1",
    ):
        assert checks[item]["checked"] is True and checks[item]["by"] == OPERATOR, checks[item]
    assert (
        next(e for e in read_journal(record / "journal.jsonl") if e["event"] == "check")["via"]
        == "widget"
    )
    html = (record / "record.html").read_text(encoding="utf-8")
    assert "idx_users_phone_number" in html
    for path in [*records.rglob("*"), *backup_dir.rglob("*")]:
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "converter",
            "records",
            "verify",
            "--all",
            "--records",
            str(records),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_clean_env(),
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
