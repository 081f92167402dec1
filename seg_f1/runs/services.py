"""The services a run depends on (an MLflow server, W&B, a sweep's database) are checked once,
before any data is read, and every check gives up after a short timeout: a server that is down
or a URL that is wrong ends the run at once with one line naming the config key, the URL with
its password masked, and what to do, instead of minutes of retries and a library's traceback.
"""

from __future__ import annotations

import math
import netrc
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

DEFAULT_TIMEOUT_S = 10.0


class ServiceUnreachable(RuntimeError):
    """A service the run needs is down, or its URL is wrong; the message says which key to fix."""


def mask_url(url: str) -> str:
    """``scheme://user:***@host/...``: fit for a log line or an error message."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", str(url))


def reason(error: BaseException) -> str:
    """The root cause of a library's error in a few words (``Connection refused``), not its
    whole message (a URL, a retry count and three nested exception names)."""
    text = str(error)
    errno_text = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno_text:
        return errno_text.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def bounded(call: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """``call()``, given up after ``timeout_s``: a DNS lookup, for one, has no timeout of its own.
    It runs in a daemon thread, which is left behind when it does not finish."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = call()
        except BaseException as error:  # handed to the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True, name=f"seg_f1 check of {what}")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def http_answers(url: str, timeout_s: float) -> None:
    """Any HTTP answer from ``url``, even an error status, proves the server is there."""

    def get() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s):
                pass
        except urllib.error.HTTPError:
            pass

    bounded(get, timeout_s + 1, url)


@contextmanager
def mlflow_limits(timeout_s: float, retries: int) -> Iterator[None]:
    """MLflow's own knobs, which it reads at every request: ``MLFLOW_HTTP_REQUEST_TIMEOUT``,
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` (its defaults,
    120 s and 7 retries with doubling pauses, wait minutes on a dead server). A value the user
    exported wins."""
    wanted = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout_s))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    added = {name: value for name, value in wanted.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def make_local_store(tracking_uri: str) -> bool:
    """Whether the URI is a local ``sqlite:`` store, whose folder is made here."""
    local = tracking_uri.startswith("sqlite:")
    if local:
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return local


def check_mlflow(tracking_uri: str, timeout_s: float, key: str) -> None:
    """The store opens and a tracking server answers within ``timeout_s``, or a one-line
    :class:`ServiceUnreachable` names the key and what to do."""
    from mlflow.tracking import MlflowClient

    advice = "or train without MLflow: logger=csv"
    try:
        make_local_store(tracking_uri)
        client = MlflowClient(tracking_uri)  # a scheme MLflow does not know fails here
    except Exception as error:
        raise ServiceUnreachable(
            f"{key}={mask_url(tracking_uri)}: not a tracking store MLflow can open "
            f"({reason(error)}); fix it (http://<host>:<port>, sqlite:///<file>), {advice}"
        ) from None
    if tracking_uri.split(":", 1)[0] not in ("http", "https"):
        return
    try:
        with mlflow_limits(timeout_s, retries=0):
            bounded(lambda: client.search_experiments(max_results=1), timeout_s + 1, key)
    except Exception as error:
        raise ServiceUnreachable(
            f"{key}={mask_url(tracking_uri)}: the MLflow tracking server did not answer within "
            f"{timeout_s:g} s ({reason(error)}); start it (mlflow server --host <host> --port "
            f"<port>), fix the URL, {advice}"
        ) from None


def check_wandb(offline: bool | None, timeout_s: float, key: str) -> None:
    """Online W&B (a key, and not ``offline``) needs its server: refused at once, naming the key,
    when it does not answer within ``timeout_s``. Offline runs need nothing."""
    offline = not has_wandb_key() if offline is None else offline
    if offline or os.environ.get("WANDB_MODE") in ("offline", "dryrun", "disabled"):
        return
    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    try:
        http_answers(base, timeout_s)
    except Exception as error:
        raise ServiceUnreachable(
            f"{key}: online W&B at {mask_url(base)} did not answer within {timeout_s:g} s "
            f"({reason(error)}); check the network or WANDB_BASE_URL, run offline with "
            f"{key}.offline=true (wandb sync uploads it later), or train without W&B: logger=csv"
        ) from None


def check_trackers(loggers: DictConfig | None) -> None:
    """Every remote tracker in the ``logger`` group, before the run reads any data."""
    for name, entry in (loggers or {}).items():
        if entry is None:
            continue
        target = str(entry.get("_target_", ""))
        timeout_s = float(entry.get("timeout_s", DEFAULT_TIMEOUT_S))
        if target.endswith(("mlflow_logger", "MLFlowLogger")):
            uri = entry.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
            if uri:
                check_mlflow(str(uri), timeout_s, f"logger.{name}.tracking_uri")
        elif target.endswith(("wandb_logger", "WandbLogger")):
            check_wandb(entry.get("offline"), timeout_s, f"logger.{name}")


def has_wandb_key() -> bool:
    """``WANDB_API_KEY``, or the key ``wandb login`` writes to ``~/.netrc``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False
