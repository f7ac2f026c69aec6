"""Configuration: the key table, the loader and the default files."""

from __future__ import annotations

from kubeedge_actors.config.keys import KEYS, KEYS_BY_NAME, SHIPPED_FILES, Key
from kubeedge_actors.config.loader import Config, load_config
from kubeedge_actors.config.render import render_default_config, render_default_file

__all__ = [
    "KEYS",
    "KEYS_BY_NAME",
    "SHIPPED_FILES",
    "Config",
    "Key",
    "load_config",
    "render_default_config",
    "render_default_file",
]
