"""Start a private Ray instance or join a running cluster: in bounded time, in one line either way.

Why this is more than ``ray.init``: on the pinned Ray (2.60) three things a user of ``--workers``
and ``--ray-address`` meets go wrong inside ``ray.init``, slowly and with tracebacks:

* **Token authentication.** ``ray start --head`` turns it on whenever a token exists
  (``maybe_enable_token_auth_if_token_available`` in ``ray/_private/authentication/
  authentication_token_setup.py``), and one does as soon as any ``ray.init()`` has started a
  local instance on the machine (``enable_token_auth_by_default`` writes ``~/.ray/auth_token``).
  Ray's token loader (``AuthenticationTokenLoader``, C++) looks in ``RAY_AUTH_TOKEN``, then the
  file named by ``RAY_AUTH_TOKEN_PATH``, then ``~/.ray/auth_token``; but ``ray.init`` sends the
  token only when ``RAY_AUTH_MODE=token`` is set or the address is ``auto`` (``ray.init`` in
  ``ray/_private/worker.py``: "an explicit address never does"). Without it the GCS's refusal
  is retried for about 20 s and reported as "Failed to connect".
* **Nothing at the address.** The GCS client waits 40 s a try, and ``ray.init`` keeps trying.
* **A ``ray start`` cluster on this machine.** ``ray.init(num_cpus=...)`` without an address
  joins it (it reads ``ray_current_cluster`` in Ray's temp dir) and then refuses ``num_cpus``
  with a ``ValueError``.

So :func:`connect` first asks the cluster's GCS for its id over gRPC with a deadline, without a
token and then, only if the cluster asks for one, with the token Ray's own loader finds. That
tells within milliseconds (or the deadline, for a host that never answers) whether the address
is served, whether it wants a token and whether ours is right; every problem the user can fix
becomes one :class:`~evorl.errors.ConfigError` line. The token is only ever sent to a cluster
that has asked for one (``ray.init("auto")`` sends it whenever one exists).

Without an address the run gets a private instance even when a cluster runs on the machine:
``--workers N`` promises N workers of this run's own, started and stopped with it, and the same
command should not change meaning because someone ran ``ray start`` earlier. ``--ray-address
auto`` joins that cluster; ``RAY_ADDRESS`` (set, for instance, by ``ray job submit``) is honoured
as an address, as Ray's own tools do. A private instance comes with a watchdog
(:mod:`evorl.evaluation.ray_watchdog`) that clears it away if the run is killed; :func:`disconnect`
shuts it down in good order.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid

import grpc
import ray
from ray._private import services
from ray._private import worker as ray_worker
from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

from evorl.errors import ConfigError
from evorl.evaluation import ray_watchdog

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
"""Default bound on reaching a cluster's GCS before ``ray.init`` is called (a head node answers
in milliseconds; the bound is for a host that never answers at all)."""
LOCAL_OBJECT_STORE_BYTES = 200 * 2**20
"""Object store of a Ray instance started here; parameter chunks are small."""
AUTH_MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
# What `ray get-auth-token` prints and `ray start` reads when neither variable above is set.
DEFAULT_TOKEN_FILE = "~/.ray/auth_token"
_NO_TOKEN = (
    f"no token was found: put the cluster's token (`ray get-auth-token` on its head prints it) "
    f"in {DEFAULT_TOKEN_FILE}, or set {TOKEN_ENV}"
)
# Ray's own channels never go through an HTTP proxy (its grpc_enable_http_proxy is off).
_CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]
# The watchdog of the private instance this process started (Ray, too, is one per process).
_watchdog: subprocess.Popen | None = None


def connect(
    address: str | None,
    workers: int,
    timeout_s: float = CONNECT_TIMEOUT_S,
    key: str = "eval.ray_address",
) -> bool:
    """Start a private Ray instance (no address) or join the cluster at ``address``.

    Args:
        address: None (a private instance, unless ``RAY_ADDRESS`` names a cluster), ``auto``
            (the ``ray start`` cluster on this machine) or ``HOST:PORT`` of a head node.
        workers: CPUs of a private instance (0: one per CPU of the machine).
        timeout_s: longest wait for the cluster's GCS to answer; past it, a ConfigError.
        key: the config key that named ``address``, for the error line.

    Returns:
        True if this call initialised Ray (the caller shuts it down), False if Ray already was.

    Raises:
        ConfigError: one line saying what to fix (address, token, where to run).
    """
    if ray.is_initialized():
        return False
    where = f"{key}={address}"
    if address is None and os.environ.get("RAY_ADDRESS", "local") not in ("", "local"):
        address = os.environ["RAY_ADDRESS"]
        where = f"RAY_ADDRESS={address}"
        log.warning("joining the Ray cluster at %s named by RAY_ADDRESS", address)
    if address is None or address == "local":
        _start_private(workers)
    else:
        _join(address, where, timeout_s)
    return True


def disconnect() -> None:
    """Shut Ray down (a private instance) or leave the cluster; the inverse of :func:`connect`."""
    global _watchdog
    if ray.is_initialized():
        ray.shutdown()
    if _watchdog is not None:
        ray_watchdog.stop(_watchdog)
        _watchdog = None
    os.environ.pop(ray_watchdog.ENV, None)


def _start_private(workers: int) -> None:
    global _watchdog
    running = services.find_bootstrap_address(None)
    if running is not None and running in services.find_gcs_addresses():
        log.warning(
            "a Ray cluster is running on this machine (%s); this run starts a private Ray "
            "instance with %s CPUs (--ray-address auto joins that cluster instead)",
            running,
            workers or "all",
        )
    instance = uuid.uuid4().hex
    os.environ[ray_watchdog.ENV] = instance  # inherited by every process of the instance
    _watchdog = ray_watchdog.start(instance, os.path.dirname(ray.__file__))
    try:
        ray.init(
            address="local",  # never the cluster ray_current_cluster names: see the module doc
            num_cpus=workers or os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            logging_level=logging.WARNING,
        )
    except BaseException:
        disconnect()
        raise
    node = getattr(ray_worker, "_global_node", None)  # no public API names the session dir
    if node is not None:
        ray_watchdog.tell_session(_watchdog, node.get_session_dir_path())


def _join(address: str, where: str, timeout_s: float) -> None:
    try:
        target = services.canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError, OSError) as err:
        raise ConfigError(f"{where}: {_first_line(err)}") from None
    if target is None:  # "auto" with no cluster found raises above; this is belt and braces
        raise ConfigError(f"{where}: no running Ray cluster found on this machine")
    deadline = time.monotonic() + timeout_s
    # Ray resolves 127.0.0.1 and localhost to the machine's own IP: errors name both
    shown = target if target == address else f"{address} ({target})"
    token = _authenticate(target, shown, where, deadline, timeout_s)
    _check_local_node(target, shown, where, token, deadline, timeout_s)
    try:
        ray.init(address=target, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(f"{where}: cannot join the Ray cluster ({_first_line(err)})") from None
    cpus = int(ray.cluster_resources().get("CPU", 0))
    log.info("joined the Ray cluster at %s (%d CPUs)", target, cpus)


def _authenticate(
    target: str, shown: str, where: str, deadline: float, timeout_s: float
) -> str | None:
    """The token to send to ``target`` (None: none needed); token mode turned on if needed.
    ``shown`` is how error lines name the address."""
    mode = os.environ.get(AUTH_MODE_ENV, "").lower() or None
    token = _local_token()
    if mode == "token" and token is None:
        raise ConfigError(f"{where}: {AUTH_MODE_ENV}=token is set but {_NO_TOKEN}")
    send = token if mode == "token" else None
    code = _probe(target, send, deadline)
    if code == grpc.StatusCode.UNAUTHENTICATED and send is None:
        if mode == "disabled":
            raise ConfigError(
                f"{where}: the Ray cluster at {shown} requires token authentication but "
                f"{AUTH_MODE_ENV}=disabled is set: unset it"
            )
        if token is None:
            raise ConfigError(
                f"{where}: the Ray cluster at {shown} requires token authentication and "
                + _NO_TOKEN
            )
        send = token
        code = _probe(target, token, deadline)
        if code == grpc.StatusCode.OK:
            _use_token_mode()
            log.info("the Ray cluster at %s uses token auth: sending %s", shown, _token_source())
    if code == grpc.StatusCode.OK:
        return send
    if code == grpc.StatusCode.UNAUTHENTICATED:
        raise ConfigError(
            f"{where}: the Ray cluster at {shown} refused the token from {_token_source()}: "
            "use its head node's token (`ray get-auth-token` there prints it)"
        )
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        raise ConfigError(
            f"{where}: no Ray cluster answers at {shown} (waited up to {timeout_s:.0f} s): "
            "is `ray start --head` running there, on that port?"
        )
    raise ConfigError(f"{where}: {shown} does not answer as a Ray head node ({code.name})")


def _check_local_node(
    target: str, shown: str, where: str, token: str | None, deadline: float, timeout_s: float
) -> None:
    """A driver must run on a node of its cluster; ``ray.init`` would wait 60 s to say so."""
    local = services.find_node_ids()  # node ids of the raylets running on this machine
    request = gcs_service_pb2.GetAllNodeInfoRequest(state_filter=0)  # ALIVE
    try:
        reply = _call(target, token, deadline, "GetAllNodeInfo", request)
    except grpc.RpcError as err:
        raise ConfigError(
            f"{where}: the Ray cluster at {shown} did not list its nodes within "
            f"{timeout_s:.0f} s ({err.code().name})"
        ) from None
    if not {n.node_id.hex() for n in reply.node_info_list} & set(local):
        raise ConfigError(
            f"{where}: no node of the Ray cluster at {shown} runs on this machine: run evorl "
            f"on one of its nodes (the head, say), or first `ray start --address={target}` here"
        )


def _probe(target: str, token: str | None, deadline: float) -> grpc.StatusCode:
    """How the GCS at ``target`` answers a request for its cluster id (OK, UNAUTHENTICATED...)."""
    try:
        _call(target, token, deadline, "GetClusterId", gcs_service_pb2.GetClusterIdRequest())
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _call(target: str, token: str | None, deadline: float, method: str, request):
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(target, options=_CHANNEL_OPTIONS) as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        timeout = max(deadline - time.monotonic(), 0.01)
        return getattr(stub, method)(request, timeout=timeout, metadata=metadata)


def _local_token() -> str | None:
    """The token Ray's own loader finds (env var, then the file it names, then the default file)."""
    try:
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:  # a Ray older than token authentication (2.52)
        return None
    loader = AuthenticationTokenLoader.instance()
    if not loader.has_token(ignore_auth_mode=True):
        return None
    return loader.get_raw_token(ignore_auth_mode=True)


def _token_source() -> str:
    """Where :func:`_local_token` found the token, in the loader's order (for messages)."""
    if os.environ.get(TOKEN_ENV):
        return TOKEN_ENV
    return os.environ.get(TOKEN_PATH_ENV) or DEFAULT_TOKEN_FILE


def _use_token_mode() -> None:
    """Turn token mode on for ``ray.init`` and the processes this one starts.

    What ``ray.init("auto")`` does for a local cluster (``_enable_token_auth``): Ray reads the
    mode only from the environment, and caches its config, so the cache is re-read.
    """
    from ray._raylet import Config

    os.environ[AUTH_MODE_ENV] = "token"
    Config.initialize("")


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
