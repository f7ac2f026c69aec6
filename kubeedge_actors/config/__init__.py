"""Configuration: keys and key tables, the loader and the default files."""

from __future__ import annotations

from kubeedge_actors.config.keys import RUNTIME_KEYS, Key, KeyTable
from kubeedge_actors.config.loader import Config, load_config
from kubeedge_actors.config.render import render_default_config, render_default_file

__all__ = [
    "RUNTIME_KEYS",
    "Config",
    "Key",
    "KeyTable",
    "load_config",
    "render_default_config",
    "render_default_file",
]
