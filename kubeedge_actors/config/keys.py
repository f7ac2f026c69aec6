"""Configuration keys: what a key is, checks for values, and the table a program reads.

A program (the edge, the cloud side) describes every key it reads in a :class:`KeyTable`:
the one source of its shipped ``conf/*.yaml`` files (see ``render.py``) and of the loader's
checks. :data:`RUNTIME_KEYS` are the runtime's own (which modules run, restarts, metrics,
logging); a program extends them with its own (``actors.keys.EDGE_KEYS``). Keys follow the
original's dotted format (docs/protocol.md#8); ours are marked "(ours)" in their doc line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Final

from kubeedge_actors.errors import InvalidArgumentError

MODULES_FILE = "modules.yaml"
LOGGING_FILE = "logging.yaml"

#: What a key holds once loaded: a value of its kind (a ``list`` key holds strings).
ConfigValue = str | int | float | bool | list[str]

#: Extra validation of one key: called with a value of the key's kind (hence ``Any``: each
#: check is written for the kinds it is used with), returns the reason it is bad, or None.
Check = Callable[[Any], str | None]


class _Absent(Enum):
    AS_DEFAULT = "as default"


#: ``Key.absent`` of a key whose absence means its default.
AS_DEFAULT: Final = _Absent.AS_DEFAULT


@dataclass(frozen=True)
class Key:
    """One known key.

    Attributes:
        name: dotted name, e.g. ``edgehub.controller.heartbeat``.
        file: the shipped file it is written to.
        kind: ``str``, ``int``, ``float``, ``bool`` or ``list`` (of strings).
        default: the value written in the shipped file, and the value without any conf folder.
        doc: one line for the comment in the shipped file.
        check: extra validation; returns the reason a value is bad, or None.
        absent: the value when a conf folder's files leave the key out, where that differs
            from ``default``: what a file written for the original means without the key.
            The doc line says what it means.
    """

    name: str
    file: str
    kind: type
    default: ConfigValue
    doc: str
    check: Check | None = None
    absent: ConfigValue | _Absent = AS_DEFAULT

    @property
    def value_when_absent(self) -> ConfigValue:
        """What the key is when a conf folder's files do not set it."""
        return self.default if isinstance(self.absent, _Absent) else self.absent


def is_of_kind(value: object, kind: type) -> bool:
    """Whether ``value`` is a value of a key of ``kind`` as the loader makes them (a ``float``
    key holds floats, a ``list`` key strings; ``True`` is no number)."""
    if kind is list:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return type(value) is kind


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def not_negative(value: float) -> str | None:
    return None if value >= 0 else "must not be negative"


def one_of(*choices: ConfigValue) -> Check:
    def check(value: ConfigValue) -> str | None:
        return None if value in choices else f"must be one of {', '.join(map(str, choices))}"

    return check


def at_least_one(value: float) -> str | None:
    return None if value >= 1 else "must be at least 1"


def percent(value: float) -> str | None:
    return None if 0 <= value <= 100 else "must be a percentage from 0 to 100"


def port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be a TCP port from 0 to 65535"


def url_with_scheme(*schemes: str) -> Check:
    def check(value: str) -> str | None:
        return (
            None
            if value.split("://", 1)[0] in schemes and "://" in value
            else f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
        )

    return check


LOG_LEVELS = ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL")

#: A check across keys: ``(values, sources)`` → warnings (each a sentence naming the keys).
TableCheck = Callable[[Mapping[str, ConfigValue], Mapping[str, str]], list[str]]


@dataclass(frozen=True)
class KeyTable:
    """Every key one program reads, the files it ships them in, and what else it tolerates.

    Attributes:
        keys: the known keys, in the order the shipped files list them.
        files: each shipped file's name and the header comment it is rendered with, in order.
        unused_keys: keys some version of the original reads that this program does not use:
            accepted silently (a config written for the original loads as it is).
        unused_prefixes: whole sections of the original this program does not use.
        foreign_files: files another program keeps in the same folder: never read.
        only_own_files: read only the files of :attr:`files` (a program that shares a folder
            with another and must not read the other's files).
        checks: warnings across keys (e.g. two names of one node that differ).
    """

    keys: tuple[Key, ...]
    files: Mapping[str, str]
    unused_keys: frozenset[str] = frozenset()
    unused_prefixes: tuple[str, ...] = ()
    foreign_files: frozenset[str] = frozenset()
    only_own_files: bool = False
    checks: tuple[TableCheck, ...] = ()
    by_name: Mapping[str, Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {key.name: key for key in self.keys}
        if len(by_name) != len(self.keys):
            raise InvalidArgumentError("a key table names a key twice")
        for key in self.keys:
            for value in (key.default, key.value_when_absent):
                if not is_of_kind(value, key.kind):
                    raise InvalidArgumentError(f"key {key.name}: {value!r} is not of its kind, {key.kind.__name__}")
        object.__setattr__(self, "by_name", by_name)

    def is_unused_key_of_original(self, name: str) -> bool:
        return name in self.unused_keys or name.startswith(self.unused_prefixes)

    def reads(self, file: str) -> bool:
        """Whether the loader reads ``file`` (a name in the configuration folder)."""
        return file in self.files if self.only_own_files else file not in self.foreign_files

    def extended(
        self,
        keys: Iterable[Key],
        *,
        files: Mapping[str, str],
        defaults: Mapping[str, ConfigValue] | None = None,
        unused_keys: Iterable[str] = (),
        unused_prefixes: Iterable[str] = (),
        foreign_files: Iterable[str] = (),
        only_own_files: bool = False,
        checks: Iterable[TableCheck] = (),
    ) -> KeyTable:
        """This table plus a program's own keys: ``files`` come first (a header given for a file
        already here replaces its header), ``defaults`` replace the default of keys already here
        (e.g. which modules run)."""
        overrides = dict(defaults or {})
        unknown = set(overrides) - set(self.by_name)
        if unknown:
            raise InvalidArgumentError(f"defaults for keys the table does not have: {sorted(unknown)}")
        own = tuple(replace(key, default=overrides[key.name]) if key.name in overrides else key for key in self.keys)
        return KeyTable(
            keys=(*keys, *own),
            files={**files, **{name: header for name, header in self.files.items() if name not in files}},
            unused_keys=self.unused_keys | frozenset(unused_keys),
            unused_prefixes=(*self.unused_prefixes, *unused_prefixes),
            foreign_files=self.foreign_files | frozenset(foreign_files),
            only_own_files=self.only_own_files or only_own_files,
            checks=(*self.checks, *checks),
        )


# One line per key reads as a table; keep the formatter and the line limit out of it.
# fmt: off
RUNTIME_KEYS = KeyTable(
    keys=(
        Key("modules.enabled", MODULES_FILE, list, [], "modules to run, by wire name"),
        Key("modules.restart.retries", MODULES_FILE, int, 5, "(ours) restarts of a crashed module before it is given up; 0: no limit", not_negative),
        Key("modules.restart.interval", MODULES_FILE, float, 1.0, "(ours) seconds before the first restart", positive),
        Key("modules.restart.grow-rate", MODULES_FILE, float, 2.0, "(ours) factor applied to the wait after each restart", at_least_one),
        Key("modules.restart.max-interval", MODULES_FILE, float, 30.0, "(ours) cap in seconds of the wait between restarts", positive),
        Key("modules.restart.reset-after", MODULES_FILE, float, 60.0, "(ours) seconds of running that forget earlier crashes", positive),
        Key("modules.stop-timeout", MODULES_FILE, float, 10.0, "(ours) seconds each module gets to stop", positive),
        Key("metrics.enabled", MODULES_FILE, bool, False, "(ours) serve Prometheus metrics of every module"),
        Key("metrics.address", MODULES_FILE, str, "127.0.0.1", "(ours) metrics listen address"),
        Key("metrics.port", MODULES_FILE, int, 9464, "(ours) metrics listen port", port),
        Key("loggerLevel", LOGGING_FILE, str, "INFO", "DEBUG, INFO, WARN, ERROR or FATAL", one_of(*LOG_LEVELS)),
        Key("enableRsyslog", LOGGING_FILE, bool, False, "also log to the local syslog socket"),
        Key("logFormatText", LOGGING_FILE, bool, True, "plain text lines; false: one JSON object per line"),
        Key("writers", LOGGING_FILE, list, ["stdout"], "where logs go: stdout and/or file"),
        Key("loggerFile", LOGGING_FILE, str, "edge.log", "log file of the file writer"),
    ),
    files={
        MODULES_FILE: "Which modules run (wire names), how crashed modules are restarted, and metrics.",
        LOGGING_FILE: "Logging, in the key format of KubeEdge's logging.yaml.",
    },
)
# fmt: on


__all__ = [
    "AS_DEFAULT",
    "LOGGING_FILE",
    "LOG_LEVELS",
    "MODULES_FILE",
    "RUNTIME_KEYS",
    "Check",
    "ConfigValue",
    "Key",
    "KeyTable",
    "TableCheck",
    "at_least_one",
    "is_of_kind",
    "not_negative",
    "one_of",
    "percent",
    "port",
    "positive",
    "url_with_scheme",
]
