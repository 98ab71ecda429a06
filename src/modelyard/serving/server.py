"""Running the app under uvicorn, in the foreground or in a background thread."""

from __future__ import annotations

import ipaddress
import threading
import time

import uvicorn

from modelyard.errors import InvalidInputError
from modelyard.serving.app import create_app
from modelyard.settings import Settings


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to expose an unauthenticated server beyond loopback."""
    if settings.auth_enabled:
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise InvalidInputError(
            f"refusing to serve on {host} with MODELYARD_AUTH_ENABLED=false: "
            "without auth, bind a loopback address only",
            field="host",
        )


def make_server(settings: Settings, host: str, port: int, *, quiet: bool = False) -> uvicorn.Server:
    """A uvicorn server for the app; ``quiet`` drops startup and access logs."""
    check_bind(settings, host)
    config = uvicorn.Config(
        create_app(settings, bind_host=host),
        host=host,
        port=port,
        log_level="warning" if quiet else settings.log_level,
        access_log=not quiet,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port the server actually bound (useful with port 0)."""
    for srv in server.servers:
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("server is not listening")


class BackgroundServer:
    """A uvicorn server in a daemon thread; ``start`` waits until it is listening."""

    def __init__(self, server: uvicorn.Server) -> None:
        self.server = server
        self.thread = threading.Thread(target=server.run, name="modelyard-server", daemon=True)

    def start(self, timeout: float = 60.0) -> int:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server failed to start; see the log above")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.02)
        return bound_port(self.server)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
