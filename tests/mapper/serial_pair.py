"""Two pseudo-terminals joined back to back, like ``socat pty pty``: what one end writes the
other reads. A Modbus RTU server on one end and the mapper on the other talk over a real
serial line discipline, without hardware."""

from __future__ import annotations

import os
import select
import threading
import tty


class SerialPair:
    def __init__(self) -> None:
        self._masters: list[int] = []
        self._slaves: list[int] = []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)  # bytes as they are: no echo, no line editing
            self._masters.append(master)
            self._slaves.append(slave)  # kept open: a pty whose last slave closes reads EIO
        self.ends = (os.ttyname(self._slaves[0]), os.ttyname(self._slaves[1]))
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._relay, name="serial-pair", daemon=True)

    def __enter__(self) -> SerialPair:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        os.write(self._stop_write, b"x")
        self._thread.join(5)
        for fd in [*self._masters, *self._slaves, self._stop_read, self._stop_write]:
            os.close(fd)

    def _relay(self) -> None:
        first, second = self._masters
        other = {first: second, second: first}
        while True:
            readable, _, _ = select.select([first, second, self._stop_read], [], [])
            if self._stop_read in readable:
                return
            for fd in readable:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(other[fd], data)
