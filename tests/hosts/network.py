"""Two hosts on one machine: network namespaces joined by a Linux bridge, made and removed here.

Each host is a network namespace with its own loopback and one veth into a bridge in the root
namespace; the root side of the bridge is the "LAN" gateway. PostgreSQL, Redis and the simulators
listen on the root namespace's loopback only, so ``Forwarder`` carries TCP from the gateway
address to the same port on loopback: a host reaches every shared service at the gateway's
address, as a real host reaches a database server, and nothing else on it is shared.
Needs root (CAP_NET_ADMIN); ``namespaces_possible()`` says whether this machine allows it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass, field


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def namespaces_possible() -> str | None:
    """None when this process may make network namespaces, else why not (a skip reason)."""
    name = f"bridge-probe-{uuid.uuid4().hex[:8]}"
    try:
        made = _ip("netns", "add", name, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"network namespaces: cannot run `ip` ({exc})"
    if made.returncode != 0:
        return f"network namespaces are not allowed here: {made.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


@dataclass
class Lan:
    """A bridge with ``hosts`` namespaces on it: ``gateway`` (root side) and each host's address.

    Names carry this process's id, so parallel sessions never collide; ``close()`` removes all.
    """

    hosts: int = 2
    tag: str = field(default_factory=lambda: f"{os.getpid() % 100000:05d}")
    namespaces: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    _links: list[str] = field(default_factory=list)

    @property
    def subnet(self) -> str:
        pid = int(self.tag)
        return f"10.{200 + pid % 50}.{(pid // 50) % 250}"

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    @property
    def bridge(self) -> str:
        return f"bhbr{self.tag}"

    def open(self) -> Lan:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._links.append(self.bridge)
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for index in range(self.hosts):
                namespace = f"bridge-host-{self.tag}-{index}"
                veth = f"bh{self.tag}h{index}"
                address = f"{self.subnet}.{index + 2}"
                _ip("netns", "add", namespace)
                self.namespaces.append(namespace)
                _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
                self._links.append(veth)
                _ip("link", "set", veth, "master", self.bridge, "up")
                inside = ("netns", "exec", namespace, "ip")
                _ip(*inside, "addr", "add", f"{address}/24", "dev", "eth0")
                _ip(*inside, "link", "set", "eth0", "up")
                _ip(*inside, "link", "set", "lo", "up")
                self.addresses.append(address)
        except BaseException:
            self.close()
            raise
        return self

    def command(self, host: int, argv: list[str]) -> list[str]:
        """``argv`` run inside host ``host``'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[host], *argv]

    def close(self) -> None:
        for namespace in self.namespaces:
            pids = _ip("netns", "pids", namespace, check=False).stdout.split()
            for pid in pids:  # only what runs inside our own namespace
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            _ip("netns", "del", namespace, check=False)
        for link in reversed(self._links):
            _ip("link", "del", link, check=False)
        self.namespaces.clear()
        self._links.clear()


class Forwarder:
    """TCP from ``listen_host:port`` to ``127.0.0.1:port`` for each port given: one accept thread
    per port, two pump threads per connection; a closed side closes the other."""

    def __init__(self, listen_host: str) -> None:
        self.listen_host = listen_host
        self._listeners: list[socket.socket] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False

    def forward(self, port: int) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, port))
        listener.listen(256)
        self._listeners.append(listener)
        threading.Thread(
            target=self._accept, args=(listener, port), name=f"forward:{port}", daemon=True
        ).start()

    def _accept(self, listener: socket.socket, port: int) -> None:
        while not self._closed:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        # Either side gone: so is the connection (a killed host's sockets die with it).
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            self._open.difference_update((source, sink))

    def close(self) -> None:
        self._closed = True
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
