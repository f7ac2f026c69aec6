"""What a Prometheus endpoint for a running :class:`~kubeedge_actors.runtime.Runtime` needs to
know without loading it: its settings and the names of figures. The endpoint itself (off by
default) is :mod:`kubeedge_actors.metrics_server`, imported only when ``metrics.enabled``: the
Prometheus client and its HTTP server cost an idle edge memory it does not use.

A module names a figure ``name`` or, for one figure with several series, ``name{label="value"}``
(e.g. ``pods{phase="Running"}``); every series of one name must carry the same labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubeedge_actors.config import Config

_IDENTIFIER = r"[a-zA-Z_][a-zA-Z0-9_]*"
_PAIR = rf'{_IDENTIFIER}="[^"\\]*"'
_FIGURE = re.compile(rf"^(?P<name>{_IDENTIFIER})(?:\{{(?P<labels>{_PAIR}(?:,{_PAIR})*)\}})?$")
_LABEL = re.compile(rf'({_IDENTIFIER})="([^"\\]*)"')


@dataclass(frozen=True)
class MetricsSettings:
    """The endpoint's keys (``metrics.*``), read once."""

    enabled: bool = False
    address: str = "127.0.0.1"
    port: int = 9464

    @classmethod
    def from_config(cls, config: Config) -> MetricsSettings:
        return cls(config.flag("metrics.enabled"), config.text("metrics.address"), config.integer("metrics.port"))


def parse_figure_key(key: str) -> tuple[str, dict[str, str]] | None:
    """``"pods{phase=\"Running\"}"`` → ``("pods", {"phase": "Running"})``; None when unusable."""
    match = _FIGURE.match(key)
    if match is None:
        return None
    labels = dict(_LABEL.findall(match["labels"])) if match["labels"] else {}
    if "module" in labels:
        return None  # the endpoint sets it
    return match["name"], labels


def labelled(name: str, **labels: str) -> str:
    """The key of one series of a labelled figure: ``labelled("pods", phase="Running")``."""
    pairs = ",".join(f'{label}="{str(value).replace(chr(34), "_").replace(chr(92), "_")}"' for label, value in sorted(labels.items()))
    return f"{name}{{{pairs}}}" if pairs else name


__all__ = ["MetricsSettings", "labelled", "parse_figure_key"]
