"""evorl against a cluster started with Ray's own command line, the way a user starts one.

``tests/test_ray.py`` builds its clusters with ``ray.cluster_utils``, inside the test process;
here a head and a second node are ``ray start`` subprocesses on 127.0.0.1 with their own ports,
temp dir and home directory (so their ``~/.ray/auth_token`` is their own), and ``evorl`` runs as
a subprocess, so what is tested is what a user types: token authentication switched on by
``ray start`` (Ray 2.60 does so whenever a token exists), ``--ray-address HOST:PORT`` finding the
token the way Ray's tools do, one-line refusals, and the run surviving a killed worker and a
killed node with the metrics of a local run.

Every process of the test cluster inherits an environment variable naming it, which is how the
test finds the cluster's workers and raylets and checks that none outlives it. It never calls
``ray stop``: on Ray 2.60 that stops every Ray process of the machine, other users' included;
the nodes run under ``ray start --block``, which stops its node's processes when terminated.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import ray
from ray._private import services

from evorl.commands.cli import main
from evorl.errors import ConfigError
from evorl.evaluation import ray_connect, ray_watchdog

MARK = "EVORL_TEST_CLUSTER"
BIN_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
RAY = shutil.which("ray", path=BIN_PATH)
# The installed command, as a user runs it (whatever module its entry point names).
EVORL = [shutil.which("evorl", path=BIN_PATH) or "evorl", "evolve"]
needs_ray_cli = pytest.mark.skipif(RAY is None, reason="the `ray` command is not installed")
# Variables that would make a subprocess use a cluster or token other than the test's own.
RAY_VARIABLES = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
RAY_DIR = os.path.dirname(ray.__file__)

RUN = [
    "cartpole-novel",
    "--controller.hidden=[4]",
    "--optimizer.popsize=8",
    "--stop.generations=6",
    "--eval.test_every=3",
    "--stop.target=null",
    "--stop.wall_time=null",
    "--quiet",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_with(marker: str, root: Path | None = None) -> dict[int, tuple[int, str]]:
    """Live processes with ``MARK=marker`` in their environment or a file open under ``root``.

    Returns {pid: (ppid, command line)}. Both tests, because a Ray process retitles itself over
    the start of its environment block and can hide the variable; every Ray process keeps its
    logs open in the session folder under its temp dir.
    """
    found = {}
    needle = f"{MARK}={marker}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                ours = needle in fh.read().split(b"\0")
            if not ours and root is not None:
                ours = any(_opened(entry, fd).startswith(f"{root}/") for fd in _fds(entry))
            if not ours:
                continue
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state not in "ZX":
            found[int(entry)] = (int(ppid), cmdline)
    return found


def _fds(pid: str) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []


def _opened(pid: str, fd: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return ""


class CliCluster:
    """A head and one more node, each ``ray start --block`` on 127.0.0.1 with a CPU each.

    Token authentication is on the way a user gets it: ``ray get-auth-token --generate`` writes
    ``~/.ray/auth_token`` (here under the test's own home) and ``ray start --head`` then turns
    token mode on by itself; the second node, started with an explicit address, needs
    ``RAY_AUTH_MODE=token`` as Ray's docs say.
    """

    def __init__(self, root: Path, head_cpus: int = 1) -> None:
        self.root = root
        self.cpus = {"head": head_cpus, "node": 1}
        self.home = root / "home"
        self.home.mkdir()
        self.marker = uuid.uuid4().hex
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.node_ports = {"head": free_port(), "node": free_port()}
        self.env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
        self.env.update(HOME=str(self.home), RAY_TMPDIR=str(root), RAY_USAGE_STATS_ENABLED="0")
        self.env[MARK] = self.marker
        self.nodes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        subprocess.run([RAY, "get-auth-token", "--generate"], env=self.env, check=True, **QUIET)
        head = ["--head", f"--port={self.port}", "--include-dashboard=false"]
        head += [f"--ray-client-server-port={free_port()}", f"--temp-dir={self.root / 'ray'}"]
        self._start("head", head, self.env)
        self._wait_for_gcs()
        self._start("node", [f"--address={self.address}"], {**self.env, "RAY_AUTH_MODE": "token"})
        deadline = time.monotonic() + 60
        while len(self.raylets()) < 2:
            assert time.monotonic() < deadline, "the second node did not come up"
            assert self.nodes["node"].poll() is None, "`ray start --address` failed"
            time.sleep(0.2)

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        ports = [f"--node-manager-port={self.node_ports[name]}", f"--num-cpus={self.cpus[name]}"]
        for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port"):
            ports.append(f"--{flag}={free_port()}")
        for flag in ("runtime-env-agent-port", "metrics-export-port"):
            ports.append(f"--{flag}={free_port()}")
        cmd = [RAY, "start", "--block", "--node-ip-address=127.0.0.1", *args, *ports]
        log = open(self.root / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        self.nodes[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    def _wait_for_gcs(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.nodes["head"].poll() is None, (self.root / "head.log").read_text()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.monotonic() < deadline, "the head node did not come up"
            time.sleep(0.2)

    def raylets(self) -> dict[str, int]:
        """{node name: raylet pid}, told apart by the node-manager port each node was given."""
        out = {}
        for pid, (_, cmd) in processes_with(self.marker, self.root).items():
            for name, port in self.node_ports.items():
                if "/raylet " in cmd and f"--node_manager_port={port} " in f"{cmd} ":
                    out[name] = pid
        return out

    def workers(self) -> dict[int, str]:
        """{pid: node name} of the evaluator's worker processes (children of a raylet)."""
        by_raylet = {pid: name for name, pid in self.raylets().items()}
        procs = processes_with(self.marker, self.root)
        return {
            pid: by_raylet.get(ppid, "?")
            for pid, (ppid, cmd) in procs.items()
            if cmd.startswith("ray::EvalWorker")
        }

    def stop(self) -> None:
        for proc in self.nodes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.nodes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def kill_leftovers(self) -> None:
        for pid in processes_with(self.marker, self.root):
            os.kill(pid, signal.SIGKILL)


QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
# Waits for Ray to start a worker: seconds here, but a minute and more on a 2-core machine that
# others are loading (a worker imports torch before it answers).
LOADED = 180.0


@pytest.fixture(scope="module")
def cluster():
    if RAY is None:
        pytest.skip("the `ray` command is not installed")
    if not os.path.isdir("/proc"):
        pytest.skip("finds the cluster's processes in /proc")
    # Short: Ray's socket paths under the temp dir must fit in 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="evrc", dir="/tmp"))
    cl = CliCluster(root)
    try:
        cl.start()
        yield cl
    finally:
        cl.stop()
        # `ray stop` is Ray's own cleanup, not evorl's (test_killed_local_run_leaves_no_ray_process
        # checks ours); on a loaded machine it can take longer than this, so what it leaves is
        # killed, not failed on.
        wait_until_none(cl.marker, timeout=20, root=root)
        cl.kill_leftovers()
        shutil.rmtree(root, ignore_errors=True)


def wait_until_none(
    marker: str, timeout: float, root: Path | None = None
) -> dict[int, tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while (left := processes_with(marker, root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def evorl(cl: CliCluster, args: list[str], env: dict[str, str] | None = None, **kw):
    """``evorl evolve ...`` as a subprocess in the test cluster's environment."""
    cmd = [*EVORL, *args]
    return subprocess.Popen(
        cmd, env=env or cl.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def metric_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return rows


def comparable(rows: list[dict]) -> list[dict]:
    drop = ("time/", "perf/", "ray/")
    return [{k: v for k, v in r.items() if not k.startswith(drop)} for r in rows]


def local_rows(tmp: Path, run: list[str] = RUN) -> list[dict]:
    """The same run with the default, local evaluator (in this process: it is quick)."""
    assert main(["evolve", *run, f"--run-dir={tmp / 'local'}"]) == 0
    return metric_rows(tmp / "local")


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"evorl ended (exit {proc.returncode}) while waiting for {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


# ---------------------------------------------------------------------------- the cluster run


@pytest.mark.ray
@pytest.mark.slow
@needs_ray_cli
def test_run_on_token_cluster_survives_worker_and_node_kill(cluster, tmp_path):
    """Joins with the token from ~/.ray/auth_token; a killed worker, then a killed node, change
    nothing in the metrics.

    Order of events, made deterministic by freezing the workers (SIGSTOP) once generation 1 is
    logged (30 generations of a few milliseconds each leave time to), so the driver is waiting
    on chunks they hold: the head's worker is SIGKILLed (its
    chunk moves to the frozen worker on the second node, a replacement starts on the head);
    once the replacement is up, the second node's raylet is SIGKILLed, so that node's chunks,
    never answered, move to the replacement, which finishes the run alone.
    """
    run_dir, run = tmp_path / "ray", [*RUN, "--stop.generations=30"]
    args = [*run, f"--run-dir={run_dir}", "--workers", "2", "--ray-address", cluster.address]
    proc = evorl(cluster, args)
    try:
        both = wait_for(lambda: len(w := cluster.workers()) == 2 and w, LOADED, "2 workers", proc)
        assert sorted(both.values()) == ["head", "node"], both
        first_row, deadline = run_dir / "metrics.jsonl", time.monotonic() + LOADED
        while not (first_row.exists() and first_row.stat().st_size):  # no /proc scan: quick
            assert proc.poll() is None, "evorl ended before generation 1 was logged"
            assert time.monotonic() < deadline, "timed out waiting for generation 1"
            time.sleep(0.002)
        for pid in both:
            os.kill(pid, signal.SIGSTOP)
        workers = cluster.workers()
        assert workers == both, "a worker was replaced before the test's kills"
        on_head = next(pid for pid, node in workers.items() if node == "head")
        os.kill(on_head, signal.SIGKILL)

        def replacement():
            return [p for p, node in cluster.workers().items() if node == "head"]

        wait_for(replacement, LOADED, "a replacement worker on the head", proc)
        # The frozen worker never answers; `ray start --block` takes it down with its raylet.
        os.kill(cluster.raylets()["node"], signal.SIGKILL)
        _, err = proc.communicate(timeout=2 * LOADED)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rows = metric_rows(run_dir)
    assert len(rows) == 30
    assert comparable(rows) == comparable(local_rows(tmp_path, run))
    assert rows[-1]["ray/failures_total"] == 2, err
    assert rows[-1]["ray/actors"] == 1
    assert "Traceback" not in err


# ---------------------------------------------------------------------------- refusals


def one_line_refusal(proc: subprocess.Popen, timeout: float) -> str:
    start = time.monotonic()
    _, err = proc.communicate(timeout=timeout + 30)  # + the command's own start-up
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("evorl: error: eval.ray_address=")
    assert time.monotonic() - start < timeout + 30
    return lines[0]


@pytest.mark.ray
@needs_ray_cli
def test_wrong_address_is_refused_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    cmd = [*EVORL, *RUN, f"--run-dir={tmp_path / 'r'}"]
    cmd += ["--workers", "2", "--ray-address", address]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = one_line_refusal(proc, ray_connect.CONNECT_TIMEOUT_S)
    assert "no Ray cluster answers" in line
    assert f"at {address} (" in line  # the address as typed, before Ray's resolved one
    assert time.monotonic() - start < ray_connect.CONNECT_TIMEOUT_S


@pytest.mark.ray
def test_silent_host_is_given_up_on_after_the_timeout(tmp_path, capsys):
    """A port that accepts connections but never speaks gRPC: refused once the run's
    ``eval.ray_timeout`` is up, in one line, exit 2."""
    from evorl.commands import main

    # Ray turns 127.0.0.1 into this machine's own address before connecting; listen there.
    host = services.resolve_ip_for_localhost("127.0.0.1")
    with socket.socket() as listener:
        listener.bind((host, 0))
        listener.listen(8)  # the kernel completes handshakes; nobody ever answers
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ConfigError, match="no Ray cluster answers") as info:
            ray_connect.connect(address, workers=2, timeout_s=1.5)
        assert 1.4 < time.monotonic() - start < 6.0
        assert "\n" not in str(info.value)
        cmd = [*RUN, f"--run-dir={tmp_path / 'r'}", "--workers", "2", "--ray-address", address]
        start = time.monotonic()
        assert main(["evolve", *cmd, "--eval.ray_timeout=2.5"]) == 2
        assert 2.4 < time.monotonic() - start < ray_connect.CONNECT_TIMEOUT_S  # not the default
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Ray cluster answers" in err[0]


@pytest.mark.ray
@pytest.mark.slow
@needs_ray_cli
@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"HOME": "empty"}, "requires token authentication and no token was found"),
        ({"RAY_AUTH_TOKEN": "not-the-token"}, "refused the token from RAY_AUTH_TOKEN"),
    ],
)
def test_token_cluster_without_the_right_token_is_refused_in_one_line(
    cluster, tmp_path, variables, expected
):
    env = dict(cluster.env, **variables)
    if env["HOME"] == "empty":
        env["HOME"] = str(tmp_path)
    args = [*RUN, f"--run-dir={tmp_path / 'r'}", "--workers", "2", "--ray-address"]
    proc = evorl(cluster, [*args, cluster.address], env=env)
    start = time.monotonic()
    assert expected in one_line_refusal(proc, timeout=5.0)
    assert time.monotonic() - start < 30  # seconds, where ray.init took 20 s and more


@pytest.mark.ray
@pytest.mark.slow
@needs_ray_cli
def test_workers_without_address_beside_a_running_cluster_start_a_private_instance(
    cluster, tmp_path
):
    """``ray_current_cluster`` names the test cluster (RAY_TMPDIR), as /tmp/ray's would."""
    assert (cluster.root / "ray" / "ray_current_cluster").exists()
    proc = evorl(cluster, [*RUN, f"--run-dir={tmp_path / 'ray'}", "--workers", "2"])
    _, err = proc.communicate(timeout=2 * LOADED)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    notes = [ln for ln in err.splitlines() if "starts a private Ray instance" in ln]
    assert len(notes) == 1 and cluster.address.split(":")[1] in notes[0], err
    assert comparable(metric_rows(tmp_path / "ray")) == comparable(local_rows(tmp_path))


# ---------------------------------------------------------------------------- a killed run


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds processes in /proc")
def test_killed_local_run_leaves_no_ray_process(tmp_path):
    """SIGKILL a ``--workers 2`` run: its watchdog clears the agents Ray leaves for ~60 s."""
    marker = uuid.uuid4().hex
    root = Path(tempfile.mkdtemp(prefix="evrk", dir="/tmp"))  # short: Ray's socket paths
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
    env.update({MARK: marker, "RAY_TMPDIR": str(root)})
    run_dir = tmp_path / "run"
    cmd = [*EVORL, *RUN, "--stop.generations=1000000"]
    cmd += [f"--run-dir={run_dir}", "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        rows = run_dir / "metrics.jsonl"
        wait_for(lambda: rows.exists() and rows.stat().st_size, LOADED, "generation 1", proc)
        names = {cmd.split(".")[0] for _, cmd in processes_with(marker, root).values()}
        assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::EvalWorker"} <= names
        proc.kill()
        proc.wait()
        left = wait_until_none(marker, timeout=10, root=root)
    finally:
        proc.kill()
        for pid in processes_with(marker, root):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    assert not left, left


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds processes in /proc")
def test_watchdog_kills_its_instance_only_when_the_driver_dies():
    instance = uuid.uuid4().hex
    env = dict(os.environ, **{ray_watchdog.ENV: instance})

    def fake_ray_process() -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", "exec -a ray::Fake sleep 60"], env=env)

    spared = subprocess.Popen(["sleep", "60"], env=env)  # has the id, but is not Ray's
    stopped, orphaned = fake_ray_process(), fake_ray_process()
    try:
        ray_watchdog.stop(ray_watchdog.start(instance, RAY_DIR))  # clean shutdown: none killed
        assert stopped.poll() is None
        watchdog = ray_watchdog.start(instance, RAY_DIR)
        watchdog.stdin.close()  # what the OS does when the driver dies
        assert watchdog.wait(timeout=30) == 0
        assert stopped.wait(timeout=5) == -signal.SIGKILL
        assert orphaned.wait(timeout=5) == -signal.SIGKILL
        assert spared.poll() is None
    finally:
        for proc in (spared, stopped, orphaned):
            proc.kill()
            proc.wait()
