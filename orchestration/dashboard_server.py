"""Starting the Streamlit dashboard: one command line for ``ecrm dashboard``, the browser tests and the
dashboard benchmark, so they all serve the app the same way (headless, telemetry off)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from orchestration import settings


def streamlit_command(port: int) -> list[str]:
    """``streamlit run dashboards/app.py`` on ``port``, headless and without usage statistics."""
    return [
        sys.executable, "-m", "streamlit", "run", str(settings.DASHBOARD_APP),
        "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def free_port() -> int:
    """A local TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_in_background(
    published: Path, environment: Mapping[str, str | None] | None = None, timeout_seconds: float = 60
) -> tuple[subprocess.Popen, str]:
    """Serve the dashboard on the published copy ``published`` in a child process on a free port; returns
    (process, url) once it listens. ``environment`` adds variables to this process's (None removes one).
    Raises RuntimeError (after stopping the process) when it does not listen within ``timeout_seconds``."""
    port = free_port()
    env = {**os.environ, "ECRM_PUBLISHED": str(published), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    for name, value in (environment or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    server = subprocess.Popen(
        streamlit_command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    server.terminate()
    server.wait()
    raise RuntimeError(f"the dashboard did not listen on port {port} within {timeout_seconds:.0f} s")
