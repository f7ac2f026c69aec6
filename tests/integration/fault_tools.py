"""Things the scenarios break on purpose: the edge's uplink, a TCP relay that can be cut, and
a private Docker daemon that can be killed and started again; and a record of what an
in-process cloud hub received."""

from __future__ import annotations

import contextlib
import os
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

from examples.busybox_image import ensure_busybox_image
from kubeedge_actors.message import Message
from kubeedge_actors.testing import wait_until
from tests.cloud.running import RunningCloudHub

# --- a link that can be cut -------------------------------------------------------------------


class Uplink:
    """A TCP relay from 127.0.0.1:``port`` to the cloud hub on 127.0.0.1:``target_port()`` (read
    at each new connection, so the cloud hub may move). TLS passes through untouched.

    :meth:`cut` closes every connection through it at once, both ends, as a lost uplink or a
    cloud that drops its sockets would, and refuses new ones until :meth:`restore`;
    :meth:`drop` closes them and lets the next one in at once.
    """

    def __init__(self, target_port: Callable[[], int]) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._cut = False
        self._closed = False
        self.connections = 0  # relayed to the cloud hub since start
        self._thread = threading.Thread(target=self._accept, name="uplink", daemon=True)
        self._thread.start()

    def cut(self) -> int:
        """Close every connection and refuse new ones; returns how many were open."""
        with self._lock:
            self._cut = True
            doomed, self._pairs = self._pairs, set()
        for pair in doomed:
            for sock in pair:
                _close(sock)
        return len(doomed)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def drop(self) -> int:
        """Close every connection, new ones get through again; returns how many were open."""
        dropped = self.cut()
        self.restore()
        return dropped

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refuse = self._cut or self._closed
            if refuse:
                _close(client)
                continue
            try:
                cloud = socket.create_connection(("127.0.0.1", self._target_port()), timeout=5)
                cloud.settimeout(None)
            except OSError:
                _close(client)
                continue
            pair = (client, cloud)
            for sock in pair:  # a relay must not add Nagle's delay the two ends have switched off
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                refuse = self._cut or self._closed  # cut while this one was being connected
                if not refuse:
                    self._pairs.add(pair)
                    self.connections += 1
            if refuse:
                _close(client)
                _close(cloud)
                continue
            for source, target in (pair, pair[::-1]):
                threading.Thread(target=self._pump, args=(pair, source, target), name="uplink-pump", daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket], source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


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


__all__ = ["CloudInbox", "PrivateDockerd", "Uplink"]
