"""Tier 1: scripts/rewrite_citations.py turns old citations into citations of docs/, and a
second run changes nothing.

The old forms are built from pieces here: written out, they would fail tests/test_docs.py, and
the script would rewrite this file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

S = "\u00a7"  # the section sign
SPEC = "spec " + S
ERRATA = "Errat" + "a"
TAG = "C"


def _load_script() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "scripts" / "rewrite_citations.py"
    spec = importlib.util.spec_from_file_location("rewrite_citations", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


rewrite = _load_script()
CODE = rewrite.Style()
MARKDOWN = rewrite.Style(markdown_link=True)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"# {SPEC}6.2: insert never overwrites", "# docs/protocol.md#6.2: insert never overwrites"),
        (f"(the twin's codes, {SPEC}5.4)", "(the twin's codes, docs/protocol.md#5.4)"),
        (f"({SPEC}9.2\u20139.3)", "(docs/protocol.md#9.2 and docs/protocol.md#9.3)"),
        (f"({SPEC}5.4-5.8)", "(docs/protocol.md#5.4 to docs/protocol.md#5.8)"),
        (f"({SPEC}5.4, {S}5.5)", "(docs/protocol.md#5.4, docs/protocol.md#5.5)"),
        (f"({SPEC}7.1 steps 4\u20135)", "(docs/protocol.md#7.1 steps 4\u20135)"),
        (f"frames (RFC 6455 {S}5.2)", f"frames (RFC 6455 {S}5.2)"),
        (f"({ERRATA} 4: defaults)", "(docs/protocol.md#13.4: defaults)"),
        (f"(spec {ERRATA.lower()} 10)", "(docs/protocol.md#13.10)"),
        (f"shared with twin (contract {TAG}7)", "shared with twin (the contract in docs/architecture.md#4.7)"),
        (f"routing ({TAG}1, {TAG}2)", "routing (docs/architecture.md#4.1, docs/architecture.md#4.2)"),
        ("the " + "spec's disconnect notice", "the original's disconnect notice"),
        (f"the wire examples of the spec ({S}2.1)", "the wire examples (docs/protocol.md#2.1)"),
        ("class C10, 0xC1, docs/protocol.md#6.2", "class C10, 0xC1, docs/protocol.md#6.2"),
    ],
    ids=[
        "section",
        "in-parentheses",
        "adjacent-range",
        "longer-range",
        "bare-continuation",
        "steps-are-not-a-range",
        "rfc-section-kept",
        "errata",
        "spec-errata",
        "contract-tag",
        "bare-tags",
        "the-spec's",
        "of-the-spec",
        "nothing-to-do",
    ],
)
def test_old_citations_in_code_become_docs_citations(old: str, new: str) -> None:
    assert rewrite.rewrite_text(old, CODE) == new


def test_old_citations_in_markdown_become_links() -> None:
    text = f"meta (`actors/meta`, {SPEC}6) and the cloud's ({SPEC}9.2\u20139.3), routing ({TAG}1)"

    assert rewrite.rewrite_text(text, MARKDOWN) == (
        "meta (`actors/meta`, [protocol 6](docs/protocol.md#6)) and the cloud's "
        "([protocol 9.2\u20139.3](docs/protocol.md#9.2)), routing ([architecture 4.1](docs/architecture.md#4.1))"
    )


def test_a_python_file_is_rewritten_in_comments_and_strings_only_and_stays_valid(tmp_path: Path) -> None:
    source = (
        f'"""The module ({SPEC}2.1)."""\n'
        f"def f(spec: int) -> int:  # {SPEC}6.2\n"
        f'    """Returns it (twin, spec\n    {S}5.4)."""\n'
        f"    return spec\n"
    )
    path = tmp_path / "a.py"
    path.write_text(source, encoding="utf-8")

    rewrite.rewrite_file(path, write=True)

    assert path.read_text(encoding="utf-8") == (
        '"""The module (docs/protocol.md#2.1)."""\n'
        "def f(spec: int) -> int:  # docs/protocol.md#6.2\n"
        '    """Returns it (twin,\n    docs/protocol.md#5.4)."""\n'
        "    return spec\n"
    )
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_lines_that_grow_too_long_are_wrapped_and_rules_keep_their_width(tmp_path: Path) -> None:
    limit = rewrite.LINE_LIMIT
    rule = f"# --- queries ({SPEC}6.3) " + "-" * 60
    long_doc = '    """' + "word " * 24 + f"({SPEC}1.1, {S}1.2, {S}1.3)." + '"""'
    trailing = "x = 1  # " + "word " * 22 + f"({SPEC}1.1, {S}1.2)"
    path = tmp_path / "a.py"
    path.write_text(f"{rule}\ndef f() -> None:\n{long_doc}\n\n\n{trailing}\n", encoding="utf-8")

    result = rewrite.rewrite_file(path, write=True)

    lines = path.read_text(encoding="utf-8").splitlines()
    assert result.too_long == []
    assert all(len(line) <= limit for line in lines)
    assert len(lines[0]) == len(rule) and lines[0].startswith("# --- queries (docs/protocol.md#6.3) ---")
    assert lines[-1] == "x = 1" and lines[-2].startswith("# ")
    compile("\n".join(lines), str(path), "exec")


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(f"# {SPEC}6.2, contract {TAG}3, {ERRATA} 9\nx = 1  # ({SPEC}4\u20135)\n", encoding="utf-8")
    (tmp_path / "b.md").write_text(f"see {SPEC}6.2\n\n```\ncode ({SPEC}2.1)\n```\n", encoding="utf-8")
    files = sorted(tmp_path.iterdir())
    for path in files:
        rewrite.rewrite_file(path, write=True)
    first = {path: path.read_text(encoding="utf-8") for path in files}

    second = [rewrite.rewrite_file(path, write=True) for path in files]

    assert not any(result.changed for result in second)
    assert {path: path.read_text(encoding="utf-8") for path in files} == first
    assert first[tmp_path / "b.md"] == "see [protocol 6.2](docs/protocol.md#6.2)\n\n```\ncode (docs/protocol.md#2.1)\n```\n"
