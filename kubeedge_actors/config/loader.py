"""Load ``conf/*.yaml`` into one dotted key space, as the original does (docs/protocol.md#1.6).

- every ``*.yaml`` / ``*.yml`` file in the folder is read and merged;
- keys we know are type-checked: a bad value is a :class:`ConfigError` naming file, key, line;
- keys of the original that we do not use are accepted silently;
- any other key is a warning that suggests the known key it was probably meant to be;
- a key the files leave out has the value its absence meant in the original's files
  (``Key.absent``), which is its shipped default unless the key table says otherwise;
- a file another program keeps in the same folder (``KeyTable.foreign_files``) is not read;
- the table's checks across keys add warnings.

Which keys exist is the program's :class:`~kubeedge_actors.config.keys.KeyTable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from kubeedge_actors.config.keys import RUNTIME_KEYS, ConfigValue, Key, KeyTable
from kubeedge_actors.errors import ConfigError, ConfigKeyError

logger = logging.getLogger(__name__)

_V = TypeVar("_V", str, int, float, bool)


@dataclass(frozen=True, slots=True)
class _Leaf:
    key: str
    value: object  # as YAML gave it, not checked yet
    file: str
    line: int  # 1-based; 0 when unknown


class Config:
    """Validated configuration values by dotted key, with defaults for absent keys.

    A key the files of :func:`load_config` leave out has ``Key.value_when_absent`` (what the
    original's files meant without it); :meth:`defaults` has every key as the shipped conf.
    Build it with :func:`load_config`, :meth:`defaults` or :meth:`with_values`.

    A module reads it once, into a frozen settings object, with the typed readers:
    ``config.number("modules.stop-timeout")``, :meth:`text`, :meth:`integer`, :meth:`flag`,
    :meth:`strings`, :meth:`path`, :meth:`optional_path`. ``config["key"]`` gives the value
    untyped. Asking for a key that is not in the key table, or as another kind than the
    table's, is a :class:`~kubeedge_actors.errors.ConfigKeyError`: a slip in code fails loudly.

    Attributes:
        table: the keys this configuration has.
        base_dir: relative paths in values are relative to this folder (the one holding
            ``conf/``; the working directory for built-in defaults).
        warnings: what the loader warned about (unknown keys, a node name that is not the node id).
        sources: where each value set in a file came from, as ``file:line``.
    """

    def __init__(
        self,
        values: Mapping[str, ConfigValue],
        table: KeyTable = RUNTIME_KEYS,
        *,
        base_dir: Path | None = None,
        warnings: tuple[str, ...] = (),
        sources: Mapping[str, str] | None = None,
    ) -> None:
        self.table = table
        self._values: dict[str, ConfigValue] = {key.name: key.default for key in table.keys}
        self._values.update(values)
        self.base_dir = base_dir if base_dir is not None else Path.cwd()
        self.warnings = warnings
        self.sources = dict(sources or {})

    @classmethod
    def defaults(cls, table: KeyTable = RUNTIME_KEYS) -> Config:
        """Every key of ``table`` at its shipped default."""
        return cls({}, table)

    def __getitem__(self, key: str) -> Any:  # untyped on purpose: the typed readers are below
        self._spec(key)
        value = self._values[key]
        return list(value) if isinstance(value, list) else value

    def get(self, key: str) -> Any:
        return self[key]

    def items(self) -> Iterator[tuple[str, ConfigValue]]:
        for key in self.table.keys:
            yield key.name, self[key.name]

    # --- typed readers: each checks the key's kind in the table ----------------------------

    def text(self, key: str) -> str:
        """The value of a ``str`` key."""
        return self._typed(key, str)

    def integer(self, key: str) -> int:
        """The value of an ``int`` key."""
        return self._typed(key, int)

    def number(self, key: str) -> float:
        """The value of a ``float`` key."""
        self._expect_kind(key, float)
        value = self._values[key]
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # a Config built by hand may hold 30 for 30.0
        return self._typed(key, float)

    def flag(self, key: str) -> bool:
        """The value of a ``bool`` key."""
        return self._typed(key, bool)

    def strings(self, key: str) -> tuple[str, ...]:
        """The value of a ``list`` key, as a tuple (settings are frozen)."""
        self._expect_kind(key, list)
        value = self._values[key]
        if not isinstance(value, list):
            raise ConfigKeyError(f"{key} holds {value!r}, not a list of strings")
        return tuple(value)

    def path(self, key: str) -> Path:
        """The value of a file key as a path; a relative one is resolved against :attr:`base_dir`."""
        path = Path(self.text(key)).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def optional_path(self, key: str) -> Path | None:
        """:meth:`path`, or None when the value is empty (e.g. no CA file)."""
        return self.path(key) if self.text(key) else None

    def _spec(self, key: str) -> Key:
        spec = self.table.by_name.get(key)
        if spec is None:
            raise ConfigKeyError(f"{key!r} is not a configuration key{_suggestion(self.table, key)}")
        return spec

    def _expect_kind(self, key: str, kind: type) -> None:
        spec = self._spec(key)
        if spec.kind is not kind:
            raise ConfigKeyError(f"{key} is {_KIND_NAMES[spec.kind]}, not {_KIND_NAMES[kind]}: read it as such")

    def _typed(self, key: str, kind: type[_V]) -> _V:
        self._expect_kind(key, kind)
        value = self._values[key]
        # The loader and with_values convert to the key's kind; a Config built by hand may not.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ConfigKeyError(f"{key} holds {value!r}, not {_KIND_NAMES[kind]}")
        return value

    def with_values(self, values: Mapping[str, object]) -> Config:
        """A copy with some keys changed; each value is checked as if it came from a file.

        Raises:
            ConfigError: an unknown key or a bad value.
        """
        merged = dict(self._values)
        for key, value in values.items():
            spec = self.table.by_name.get(key)
            if spec is None:
                raise ConfigError(f"{key!r} is not a configuration key{_suggestion(self.table, key)}")
            merged[key] = _checked(spec, value, _Leaf(key, value, "<override>", 0))
        return Config(merged, self.table, base_dir=self.base_dir, warnings=self.warnings, sources=self.sources)


def load_config(config_dir: Path | str, table: KeyTable, *, log_warnings: bool = True) -> Config:
    """Read every YAML file in ``config_dir`` but the foreign ones, against ``table``.

    Raises:
        ConfigError: the folder is missing, a file is not YAML, or a known key has a bad
            value; the message names the file, the key and the line.
    """
    directory = Path(config_dir)
    if not directory.is_dir():
        raise ConfigError(f"configuration folder {directory} does not exist")
    values: dict[str, ConfigValue] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file() and table.reads(p.name))
    for path in files:
        for leaf in _read_leaves(path, table):
            spec = table.by_name.get(leaf.key)
            if spec is None:
                if not table.is_unused_key_of_original(leaf.key):
                    warnings.append(f"{leaf.file}:{leaf.line}: unknown key {leaf.key!r}{_suggestion(table, leaf.key)}; ignored")
                continue
            values[leaf.key] = _checked(spec, leaf.value, leaf)
            sources[leaf.key] = f"{leaf.file}:{leaf.line}"
    for key in table.keys:
        values.setdefault(key.name, key.value_when_absent)
    for check in table.checks:
        warnings += check(values, sources)
    if log_warnings:
        for warning in warnings:
            logger.warning("config: %s", warning)
    return Config(values, table, base_dir=directory.resolve().parent, warnings=tuple(warnings), sources=sources)


def _read_leaves(path: Path, table: KeyTable) -> list[_Leaf]:
    try:
        document = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    if document is None:
        return []
    if not isinstance(document, CommentedMap):
        raise ConfigError(f"{path}:1: the file must hold a mapping of keys, not {type(document).__name__}")
    return list(_flatten(document, "", str(path), table))


def _flatten(mapping: CommentedMap, prefix: str, file: str, table: KeyTable) -> Iterator[_Leaf]:
    for name, value in mapping.items():
        key = f"{prefix}{name}"
        line = mapping.lc.value(name)[0] + 1 if name in mapping.lc.data else 0
        if isinstance(value, CommentedMap) and key not in table.by_name:
            yield from _flatten(value, key + ".", file, table)
        else:
            yield _Leaf(key, value, file, line)


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list of strings"}


def _checked(spec: Key, value: object, leaf: _Leaf) -> ConfigValue:
    converted = _convert(spec.kind, value)
    if converted is None:
        raise ConfigError(f"{leaf.file}:{leaf.line}: {spec.name} must be {_KIND_NAMES[spec.kind]}, not {value!r}")
    if spec.check is not None and (reason := spec.check(converted)) is not None:
        raise ConfigError(f"{leaf.file}:{leaf.line}: {spec.name} {reason}, not {value!r}")
    return converted


def _convert(kind: type, value: object) -> ConfigValue | None:
    """``value`` as a value of ``kind``; None when it is not one (YAML's null never is)."""
    if isinstance(value, bool) and kind is not bool:
        return None  # YAML true is not a number or a string here
    return _CONVERTERS[kind](value)


def _to_list(value: object) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return [str(item) for item in value]


_CONVERTERS: dict[type, Callable[[object], ConfigValue | None]] = {
    bool: lambda value: value if isinstance(value, bool) else None,
    int: lambda value: value if isinstance(value, int) else None,
    float: lambda value: float(value) if isinstance(value, int | float) else None,
    # A number written where text is expected (a node id of digits) is still text.
    str: lambda value: str(value) if isinstance(value, str | int | float) else None,
    list: _to_list,
}


def _suggestion(table: KeyTable, key: str) -> str:
    import difflib  # noqa: PLC0415 - only for a key that is not known: a running edge never needs it

    matches = difflib.get_close_matches(key, list(table.by_name), n=1, cutoff=0.75)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


__all__ = ["Config", "load_config"]
