"""Start or join Ray for a run: local services on this machine only, token
auth on by default (the token file private to its owner), a cluster address
checked in seconds, suite-declared plugin code shipped to the workers.

How Ray 2.60 reads the token (ray/_private/authentication/): token auth is on
when ``RAY_AUTH_MODE=token``; the token comes from ``RAY_AUTH_TOKEN``, else the
file ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``. A new local Ray turns
token auth on by itself and writes that file with the default umask (0644);
joining a cluster by an explicit address never turns it on, so without
``RAY_AUTH_MODE=token`` the connection fails with a long AuthenticationError.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import socket
import stat
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import ray

from ..spec import TrialSpec

#: Environment variables a worker needs to behave like the driver.
FORWARDED_ENV = ("HF_HUB_OFFLINE", "LORE_BENCH_CACHE", "LORE_BENCH_DATA", "LORE_BENCH_GIT_SHA")
CONNECT_TIMEOUT_S = 5.0
LOOPBACK = "127.0.0.1"


class ClusterError(RuntimeError):
    """Ray could not be started or joined; the message says what to do."""


def plugin_runtime_env(specs: list[TrialSpec], remote: bool) -> dict:
    """Ship suite-declared plugin code (methods, protocols, backbones) to the workers: the
    module's import root on PYTHONPATH for a local Ray, the package directory
    for a cluster."""
    roots, packages = set(), set()
    for spec in specs:
        for plugin in (spec.plugin, spec.protocol_plugin, spec.backbone.get("plugin")):
            if not plugin:
                continue
            found = importlib.util.find_spec(plugin.split(":")[0].split(".")[0])
            if found is None or not found.origin:
                continue
            top = Path(found.origin).parent if found.submodule_search_locations else Path(found.origin)
            packages.add(str(top))
            roots.add(str(top.parent))
    if not roots:
        return {}
    if remote:
        return {"py_modules": sorted(packages)}
    path = os.pathsep.join(sorted(roots) + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {"env_vars": {"PYTHONPATH": path}}


# -- the token -------------------------------------------------------------------
def token_path() -> Path:
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def token_available() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or token_path().is_file()


def ensure_private_token() -> Path | None:
    """A token for a new local Ray, created 0600 in a 0700 directory before Ray
    would write it world-readable; an existing token file is made 0600."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None
    path = token_path()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))  # what Ray's own generator makes: 256 random bits
    tighten(path)
    return path


def tighten(path: Path) -> None:
    """Token file readable by its owner only (Ray writes it 0644)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:  # not ours to change (another user's file): Ray still reads it
        pass


# -- joining a cluster -----------------------------------------------------------
def cluster_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) the address connects to first, or None when it cannot be known here."""
    if address.startswith("ray://"):
        parsed = urlparse(address)
        return (parsed.hostname or LOOPBACK, parsed.port or 10001)
    try:
        from ray._private.services import canonicalize_bootstrap_address

        resolved = canonicalize_bootstrap_address(address)
    except Exception:  # noqa: BLE001 - let ray.init report a malformed address its own way
        return None
    if not resolved:
        return None
    host, _, port = resolved.rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() else None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in seconds when nothing listens at the address (Ray itself retries
    for minutes, in C++ code that Ctrl-C does not interrupt)."""
    endpoint = cluster_endpoint(address)
    if address == "auto" and endpoint is None:
        raise ClusterError("--address auto: no running Ray cluster found on this machine; start one with "
                           "`ray start --head` or give the head's address (host:6379)")
    if endpoint is None:
        return
    host, port = endpoint
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        reason = "timed out" if isinstance(err, socket.timeout) else (err.strerror or str(err))
        raise ClusterError(f"nothing answers at {host}:{port} ({reason}) for Ray address '{address}': is the head "
                           "node running (`ray start --head --port 6379`) and is the port open to this machine?") from None


def _auth_hint(address: str) -> str:
    where = token_path()
    return (f"the Ray cluster at {address} requires token authentication and "
            + ("rejected the token in " + ("$RAY_AUTH_TOKEN" if os.environ.get("RAY_AUTH_TOKEN") else str(where))
               if token_available() else f"no token was found ($RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH or {where})")
            + ". Copy the head's token (`ray get-auth-token` on the head node) into ~/.ray/auth_token "
              "(chmod 600) or set RAY_AUTH_TOKEN; lore-bench turns RAY_AUTH_MODE=token on when a token is there")


def _is_auth_error(err: BaseException) -> bool:
    from ray.exceptions import AuthenticationError

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        text = str(err)  # Ray's node.py re-raises the GCS error as text inside a RuntimeError
        if isinstance(err, AuthenticationError) or "InvalidAuthToken" in text or "AuthenticationError" in text:
            return True
        err = err.__cause__ or err.__context__
    return False


def _turn_token_auth_on() -> None:
    os.environ["RAY_AUTH_MODE"] = "token"
    try:  # Ray caches its config at import: refresh it as ray.init does for a new local cluster
        from ray._private.authentication.authentication_token_setup import _enable_token_auth

        _enable_token_auth()
    except ImportError:  # pragma: no cover - another Ray layout: the variable alone
        pass


@contextmanager
def _quiet_stderr():
    """Ray's C++ client logs every refused attempt straight to fd 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_auth(address: str) -> None:
    """One connection attempt to the cluster's GCS: a token problem is one
    clear message now, instead of Ray's 20 retries and a long traceback."""
    if address.startswith("ray://"):
        return  # Ray Client: ray.init reports it
    endpoint = cluster_endpoint(address)
    if endpoint is None:
        return
    try:
        from ray._raylet import GcsClient
    except ImportError:  # pragma: no cover
        return
    try:
        with _quiet_stderr():
            GcsClient(address=f"{endpoint[0]}:{endpoint[1]}")
    except Exception as err:  # noqa: BLE001 - only an auth failure is ours to explain
        if _is_auth_error(err):
            raise ClusterError(_auth_hint(address)) from None


# -- ray.init ----------------------------------------------------------------------
@contextmanager
def local_services_on_loopback():
    """While a local Ray starts: its servers (GCS, raylet, workers, agents,
    metrics) bind 127.0.0.1 only. Ray binds them to the node IP on all
    interfaces unless its node IP is the loopback address, which on Linux it
    picks only under the switch macOS and Windows get by default. The processes
    started meanwhile keep it; this process gets its settings back after."""
    from ray._private import ray_constants

    name = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    saved_env, saved_flag = os.environ.get(name), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[name] = "0"  # Ray's processes started from here
    ray_constants.ENABLE_RAY_CLUSTER = False  # this process (read when ray was imported)
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved_env


def init_ray(options, runtime_env: dict) -> str | None:
    """``ray.init`` for the run; returns the dashboard URL (or None)."""
    if not options.auth:
        os.environ["RAY_AUTH_MODE"] = "disabled"
    env_vars = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    runtime_env = {**runtime_env, "env_vars": {**env_vars, **runtime_env.get("env_vars", {})}}
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        check_reachable(address)
        if options.auth and "RAY_AUTH_MODE" not in os.environ and token_available():
            _turn_token_auth_on()  # Ray never turns it on for an explicit address
        check_auth(address)
        try:
            ctx = ray.init(address=address, runtime_env=runtime_env, log_to_driver=options.log_to_driver)
        except Exception as err:  # noqa: BLE001 - an auth failure gets one clear line, anything else goes on
            if _is_auth_error(err):
                raise ClusterError(_auth_hint(address)) from None
            raise
        if os.environ.get("RAY_AUTH_MODE") == "token" and not os.environ.get("RAY_AUTH_TOKEN"):
            tighten(token_path())
    else:
        kwargs = {}
        if options.temp_dir:
            kwargs["_temp_dir"] = options.temp_dir
        if options.object_store_memory:
            kwargs["object_store_memory"] = options.object_store_memory
        if os.environ.get("RAY_AUTH_MODE", "token") != "disabled":
            ensure_private_token()
        with local_services_on_loopback():
            ctx = ray.init(num_cpus=options.num_cpus, num_gpus=options.num_gpus, include_dashboard=options.dashboard,
                           dashboard_host=options.dashboard_host, dashboard_port=options.dashboard_port,
                           runtime_env=runtime_env, log_to_driver=options.log_to_driver, _node_ip_address=LOOPBACK,
                           **kwargs)
        if os.environ.get("RAY_AUTH_MODE", "token") != "disabled" and not os.environ.get("RAY_AUTH_TOKEN"):
            tighten(token_path())
    url = getattr(ctx, "dashboard_url", None)
    return f"http://{url}" if url and not url.startswith("http") else url
