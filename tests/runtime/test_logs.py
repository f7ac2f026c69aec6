"""The console handler: a reader that went away ends the console output, not the program."""

from __future__ import annotations

import io
import logging

import pytest

from kubeedge_actors.logs import ConsoleHandler


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_console_handler_goes_quiet_when_its_pipe_is_broken(capsys: pytest.CaptureFixture[str]) -> None:
    handler = ConsoleHandler(_ClosedPipe())
    log = logging.getLogger("test_console_handler")
    log.addHandler(handler)
    log.propagate = False

    try:
        log.warning("first line after tee died")
        log.warning("second line")
    finally:
        log.removeHandler(handler)
        handler.close()

    assert capsys.readouterr().err == ""


def test_console_handler_still_reports_other_write_errors(capsys: pytest.CaptureFixture[str]) -> None:
    class _Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    handler = ConsoleHandler(_Full())
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "a line", None, None)

    handler.emit(record)

    assert "No space left on device" in capsys.readouterr().err
