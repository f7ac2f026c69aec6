"""Things the fault scenarios break on purpose: a TCP link that can be cut, a private Docker
daemon that can be killed and started again, and a record of what the cloud hub received."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actors.edged.localimage import ensure_busybox_image
from kubeedge_actors.message import Message
from kubeedge_actors.testing import wait_until
from tests.cloudhub.running import RunningCloudHub

# --- a link that can be cut -------------------------------------------------------------------


class CuttableLink:
    """A TCP forwarder 127.0.0.1:``port`` → 127.0.0.1:``target_port`` on one thread.

    :meth:`cut` closes every forwarded connection at once, as a dying uplink or a cloud that
    drops its sockets would; new connections are forwarded again right after.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._peers: dict[socket.socket, socket.socket] = {}
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._requests: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._running = True
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, name="cuttable-link", daemon=True)
        self._thread.start()

    @property
    def connection_count(self) -> int:
        return len(self._peers) // 2

    def cut(self) -> int:
        """Close every forwarded connection (both ends); returns how many there were."""
        return int(self._on_thread(self._cut_all))

    def close(self) -> None:
        self._on_thread(self._cut_all)
        self._running = False
        self._wake_writer.send(b"\0")
        self._thread.join(10)
        self._selector.close()
        self._listener.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _on_thread(self, action: Callable[[], Any]) -> Any:
        done = threading.Event()
        result: list[Any] = []

        def request() -> None:
            result.append(action())
            done.set()

        with self._lock:
            self._requests.append(request)
        self._wake_writer.send(b"\0")
        if not done.wait(10):
            raise AssertionError("the link's thread did not answer")
        return result[0]

    def _run(self) -> None:
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_reader, selectors.EVENT_READ, "wake")
        while self._running:
            for key, _ in self._selector.select():
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    self._wake_reader.recv(4096)
                    with self._lock:
                        requests, self._requests = self._requests, []
                    for request in requests:
                        request()
                else:
                    self._forward(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            client, _ = self._listener.accept()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                return
            self.accepted += 1
            for sock, peer in ((client, upstream), (upstream, client)):
                sock.settimeout(5)  # a forward blocks at most this long
                self._peers[sock] = peer
                self._selector.register(sock, selectors.EVENT_READ, "data")

    def _forward(self, sock: socket.socket) -> None:
        peer = self._peers.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                return
        except OSError:
            pass
        self._close_pair(sock)

    def _close_pair(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        for end in (sock, peer):
            if end is None:
                continue
            self._peers.pop(end, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(end)
            end.close()

    def _cut_all(self) -> int:
        pairs = self.connection_count
        for sock in list(self._peers):
            self._close_pair(sock)
        return pairs


# --- a Docker daemon of our own -------------------------------------------------------------


class PrivateDockerd:
    """A dockerd of this test alone, in its own network namespace, restartable.

    The machine's dockerd is shared with other people's tests, so it is never restarted.
    ``ip netns exec`` remounts /sys and so hides the cgroup mounts dockerd needs: the daemon
    is entered into the namespace with ``nsenter --net`` instead. ``--bridge none`` in its own
    namespace leaves the host's docker0 alone (ENVIRONMENT.md); pods use host networking,
    i.e. this namespace's loopback.
    """

    def __init__(self) -> None:
        # Short: the socket paths under it must stay below the 108 bytes of a unix address.
        self.folder = Path(tempfile.mkdtemp(prefix="kea-dockerd-"))
        self.netns = f"kea-{uuid.uuid4().hex[:10]}"
        self.socket = self.folder / "docker.sock"
        self.url = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None
        self._netns_made = False
        self._client: Any = None

    @property
    def arguments(self) -> list[str]:
        folder = self.folder
        return [
            "nsenter",
            f"--net=/var/run/netns/{self.netns}",
            "dockerd",
            "--host",
            self.url,
            "--data-root",
            str(folder / "data"),
            "--exec-root",
            str(folder / "exec"),
            "--pidfile",
            str(folder / "docker.pid"),
            "--bridge",
            "none",
            "--iptables=false",
            "--ip-masq=false",
        ]

    def start(self) -> None:
        if not self._netns_made:
            subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
            self._netns_made = True
            subprocess.run(["ip", "netns", "exec", self.netns, "ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        with (self.folder / "dockerd.log").open("ab") as log:
            self._process = subprocess.Popen(self.arguments, stdout=log, stderr=log, start_new_session=True)
        try:
            wait_until(self._answers, timeout_s=60, interval_s=0.05, what="the private dockerd answering")
        except AssertionError as error:
            log = (self.folder / "dockerd.log").read_text(errors="replace").splitlines()[-15:]
            raise AssertionError(f"{error}; its log ends:\n" + "\n".join(log)) from None

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would, and its containerd with it (a new one must
        not wait for the old one's lock); containers and their shims live on, as they do."""
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        for pid in self._our_processes(lambda command: command.startswith(b"containerd\0")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: not self._our_processes(lambda command: command.startswith(b"containerd\0")),
            timeout_s=30,
            what="the private containerd gone",
        )
        # It stays a zombie here (this sandbox's PID 1 does not reap orphans), so its pid still
        # "runs" and a new dockerd would wait for it; on a real host init reaps it.
        (self.folder / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)

    def restart(self) -> None:
        self.kill()
        self.start()

    def client(self) -> Any:
        """A Docker client of this daemon (one, closed by :meth:`remove`)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.url, timeout=60)

    def import_busybox(self, reference: str) -> None:
        ensure_busybox_image(self.client().api, reference)

    def remove(self) -> None:
        """Containers removed, daemon stopped, mounts undone, folder and namespace deleted."""
        if self._process is not None and self._answers():
            for container in self.client().containers.list(all=True):
                with contextlib.suppress(Exception):
                    container.remove(force=True)
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._end_leftover_processes()
        # dockerd leaves its data-root bind mount and the netns mount behind.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(self.folder))), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._netns_made:
            subprocess.run(["ip", "netns", "del", self.netns], check=False, capture_output=True)
            self._netns_made = False

    def _end_leftover_processes(self) -> None:
        """containerd shims of this daemon outlive a killed dockerd."""
        for pid in self._our_processes(lambda command: True):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _our_processes(self, accept: Callable[[bytes], bool]) -> list[int]:
        """Processes whose command line names this daemon's folder and that ``accept`` takes."""
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):  # ended meanwhile
                command = (proc / "cmdline").read_bytes()
                if str(self.folder).encode() in command and accept(command):
                    found.append(int(proc.name))
        return found

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            client = self._new_client()
        except Exception:
            return False
        try:
            return bool(client.ping())
        except Exception:
            return False
        finally:
            client.close()


# --- what the cloud hub received ------------------------------------------------------------


class CloudInbox:
    """Every message the cloud hub hands to its controllers, in order of arrival.

    It wraps the cloud runtime router's ``send_batch`` (edge frames) and ``send_to_group``
    (connect / disconnect events) and passes everything on unchanged; :meth:`attach` again
    after a restart of the cloud hub (a new runtime has a new router).
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._condition = threading.Condition()

    def attach(self, cloud: RunningCloudHub) -> None:
        assert cloud.runtime is not None
        router = cloud.runtime.router
        send_batch, send_to_group = router.send_batch, router.send_to_group

        def recording_send_batch(module: str, messages: Any) -> bool:
            self._record(messages)
            return send_batch(module, messages)

        def recording_send_to_group(group: str, message: Message) -> int:
            self._record([message])
            return send_to_group(group, message)

        router.send_batch = recording_send_batch  # type: ignore[method-assign]
        router.send_to_group = recording_send_to_group  # type: ignore[method-assign]

    def _record(self, messages: Any) -> None:
        with self._condition:
            self.messages.extend(messages)
            self._condition.notify_all()

    def matching(self, predicate: Callable[[Message], bool]) -> list[Message]:
        with self._condition:
            return [message for message in self.messages if predicate(message)]

    def wait_for_count(self, predicate: Callable[[Message], bool], count: int, timeout_s: float = 30.0) -> list[Message]:
        return list(
            wait_until(
                lambda: (found := self.matching(predicate)) and len(found) >= count and found,
                timeout_s,
                interval_s=0.02,
                what=f"{count} matching messages at the cloud",
            )
        )

    def connections(self, node_id: str) -> int:
        """How many times ``node_id`` connected so far."""
        resource = f"node/{node_id}"
        return len(self.matching(lambda m: m.source == "cloudhub" and m.operation == "connected" and m.resource == resource))


__all__ = ["CloudInbox", "CuttableLink", "PrivateDockerd"]
