"""Write the default configuration files from the key table, every key commented.

The shipped ``conf/`` is this output; a test keeps the two the same.
"""

from __future__ import annotations

import json

from kubeedge_actors.config.keys import ConfigValue, KeyTable


def render_default_file(table: KeyTable, file: str) -> str:
    """The commented YAML text of one shipped file."""
    lines = [f"# {table.files[file]}", "# Keys marked (ours) are additions to the original's format.", ""]
    open_sections: list[str] = []
    for key in (k for k in table.keys if k.file == file):
        *sections, leaf = key.name.split(".")
        common = _common_prefix_length(open_sections, sections)
        if not sections and open_sections and lines[-1] != "":
            lines.append("")  # a top-level key after a section
        open_sections = sections
        for depth in range(common, len(sections)):
            if depth == 0 and lines[-1] != "":
                lines.append("")
            lines.append(f"{'  ' * depth}{sections[depth]}:")
        indent = "  " * len(sections)
        lines.append(f"{indent}# {key.doc}")
        lines.append(f"{indent}{leaf}: {_format(key.default)}")
    return "\n".join(lines) + "\n"


def render_default_config(table: KeyTable) -> str:
    """Every shipped file, each introduced by a comment naming it (for --print-default-config)."""
    return "\n".join(f"# ==> conf/{file} <==\n{render_default_file(table, file)}" for file in table.files)


def _common_prefix_length(a: list[str], b: list[str]) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count


def _format(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # "heartbeat: 15", as the original's files write it
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    text = str(value)
    plain_safe = text and all(c.isalnum() or c in "-_./:" for c in text) and not text[0].isdigit()
    return text if plain_safe else json.dumps(text)


__all__ = ["render_default_config", "render_default_file"]
