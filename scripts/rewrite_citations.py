#!/usr/bin/env python3
"""Rewrite citations of texts outside the repository into citations of ``docs/``.

Early code cited the research notes on the original ("spec", the section sign, a number), their
errata list ("Errata" and a number) and contract tags ("C" and a digit from 1 to 7). None of
those texts is in the repository; ``docs/protocol.md`` mirrors the notes' numbering (the errata
are its section 13) and ``docs/architecture.md`` numbers the contracts in its section 4. This
script turns the first into the second, across the tree (below, S stands for the section sign):

=========================================  ==================================================
cited as                                   becomes (in Markdown: a link to the same place)
=========================================  ==================================================
spec S6.2                                  ``docs/protocol.md#6.2``
spec S9.2–9.3 (a range)                    ``docs/protocol.md#9.2 and docs/protocol.md#9.3``
S3.9 alone (but not after "RFC 6455")      ``docs/protocol.md#3.9``
Errata <n>, spec errata <n> (any case)     ``docs/protocol.md#13.<n>``
contract C<n>                              ``the contract in docs/architecture.md#4.<n>``
C<n> alone                                 ``docs/architecture.md#4.<n>``
=========================================  ==================================================

and fixes the words around them that no longer read ("the spec's" → "the original's"). In
Python files only comments and strings are touched; a comment or docstring line the rewrite
makes longer than ruff's limit is wrapped (a trailing comment moves above its line), and a
``# --- title ---`` rule keeps its width. Lines it cannot wrap are listed, to be shortened by
hand. Files under ``docs/`` are never touched.

It is idempotent: run it again after merging a branch that still cites the old way.

    python scripts/rewrite_citations.py            # rewrite every tracked text file outside docs/
    python scripts/rewrite_citations.py --check    # change nothing; list what would change, exit 1 if any
    python scripts/rewrite_citations.py FILE...    # just these files

``tests/test_docs.py`` fails on any old citation left, and on any citation of a missing section.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE_LIMIT = 140  # ruff's line-length (pyproject.toml)
SECTION = "\u00a7"  # written as an escape so that this file cites nothing itself
PROTOCOL = "docs/protocol.md"
ARCHITECTURE = "docs/architecture.md"
#: Contract tags of the early code → the section of docs/architecture.md that describes it.
CONTRACT_SECTIONS = {str(n): f"4.{n}" for n in range(1, 8)}
ERRATA_SECTION = "13"
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".cfg", ".sh", ".toml", ".txt", ".ini"}
SCRIPT_FOLDERS = ("scripts/", ".ci/")

_NUMBER = r"\d+(?:\.\d+)*"
_DASH = "[\u2013-]"
# "spec" and the section sign may be split over two lines (in a docstring): the break is kept.
_SPEC = r"(?P<lead>[ \t]*)\bspec(?P<gap>[ \t]*\n[ \t]*|[ \t]+)"
_RANGE = re.compile(rf"(?:{_SPEC})?{SECTION}[ \t]*(?P<first>{_NUMBER}){_DASH}(?P<last>{_NUMBER})\b(?!\.\d)")
_CITATION = re.compile(rf"(?:{_SPEC})?{SECTION}[ \t]*(?P<number>{_NUMBER})")
_ERRATA = re.compile(r"\b(?:spec[ \t]+)?errata[ \t]+(?P<number>\d+)\b", re.IGNORECASE)
_CONTRACT = re.compile(r"\b(?P<the>[Tt]he[ \t]+)?(?P<word>[Cc])ontract[ \t]+C(?P<n>[1-7])\b")
_BARE_CONTRACT = re.compile(r"(?<![\w./#-])C(?P<n>[1-7])\b(?![\w.-])")
_RFC_BEFORE = re.compile(r"RFC[ \t]*\d+[ \t]*$")
# Words that only made sense next to the old citation.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b([Tt])he spec's(\s+)disconnect notice"), r"\1he original's\2disconnect notice"),
    (re.compile(rf"[ \t]+of the spec[ \t]+\((?={SECTION})"), " ("),
    (re.compile(r"\(spec: nanoseconds divided by 10\^6\)"), "(as the original: nanoseconds divided by 10^6)"),
    (re.compile(rf"\bas spec(?=[ \t]+{SECTION})"), "as in"),
)


# --- the text rewrite ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """How a citation is written: plain in code, a link in Markdown outside code blocks."""

    markdown_link: bool = False

    def cite(self, document: str, number: str, label: str) -> str:
        target = f"{document}#{number}"
        return f"[{label} {number}]({target})" if self.markdown_link else target

    def protocol(self, number: str) -> str:
        return self.cite(PROTOCOL, number, "protocol")

    def architecture(self, number: str) -> str:
        return self.cite(ARCHITECTURE, number, "architecture")

    def protocol_range(self, first: str, last: str) -> str:
        if self.markdown_link:
            return f"[protocol {first}\u2013{last}]({PROTOCOL}#{first})"
        joiner = "and" if _adjacent(first, last) else "to"
        return f"{self.protocol(first)} {joiner} {self.protocol(last)}"


def _adjacent(first: str, last: str) -> bool:
    a, b = first.split("."), last.split(".")
    return len(a) == len(b) and a[:-1] == b[:-1] and int(b[-1]) == int(a[-1]) + 1


def _gap(match: re.Match[str]) -> str:
    """What stays of the text before the number: the space before "spec", or, when "spec" ended
    a line, the line break (so the line count does not change and no line ends in a space)."""
    gap = match.groupdict().get("gap") or ""
    return gap[gap.index("\n") :] if "\n" in gap else match.groupdict().get("lead") or ""


def rewrite_text(text: str, style: Style) -> str:
    """Every old citation in ``text`` rewritten (``text`` holds no line breaks but kept ones)."""
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    text = _RANGE.sub(lambda m: _gap(m) + style.protocol_range(m["first"], m["last"]), text)
    text = _sub_unless_rfc(_CITATION, text, lambda m: _gap(m) + style.protocol(m["number"]))
    text = _ERRATA.sub(lambda m: style.protocol(f"{ERRATA_SECTION}.{m['number']}"), text)
    text = _CONTRACT.sub(lambda m: _contract(m, style), text)
    return _BARE_CONTRACT.sub(lambda m: style.architecture(CONTRACT_SECTIONS[m["n"]]), text)


def _contract(match: re.Match[str], style: Style) -> str:
    article = "The" if (match["the"] or "").startswith("T") or (not match["the"] and match["word"] == "C") else "the"
    return f"{article} contract in {style.architecture(CONTRACT_SECTIONS[match['n']])}"


def _sub_unless_rfc(pattern: re.Pattern[str], text: str, replace: Callable[[re.Match[str]], str]) -> str:
    """Like ``pattern.sub``, but a section sign right after "RFC <n>" is the RFC's, not ours."""
    out, last = [], 0
    for match in pattern.finditer(text):
        if not match.groupdict().get("gap") and _RFC_BEFORE.search(text, 0, match.start()):
            continue
        out.append(text[last : match.start()])
        out.append(replace(match))
        last = match.end()
    out.append(text[last:])
    return "".join(out)


# --- files ----------------------------------------------------------------------------------------


@dataclass
class Result:
    path: Path
    changed: bool = False
    too_long: list[int] = field(default_factory=list)  # 1-based lines left over the limit


def rewrite_file(path: Path, write: bool) -> Result:
    original = path.read_text(encoding="utf-8")
    result = Result(path)
    if path.suffix == ".py":
        text, result.too_long = _rewrite_python(original)
    elif path.suffix == ".md":
        text = _rewrite_markdown(original)
    else:
        text = rewrite_text(original, Style())
    result.changed = text != original
    if result.changed and write:
        path.write_text(text, encoding="utf-8")
    return result


def _rewrite_markdown(text: str) -> str:
    """Links outside fenced code blocks, plain citations inside them."""
    lines = text.split("\n")
    fenced = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        lines[index] = rewrite_text(line, Style(markdown_link=not fenced))
    return "\n".join(lines)


def _rewrite_python(source: str) -> tuple[str, list[int]]:
    """Rewrite inside comments and strings only; then wrap the lines that grew too long."""
    spans = _prose_spans(source)
    if spans is None:  # not valid Python: leave it to whoever broke it
        return source, []
    text = source
    for start, end in reversed(spans):
        text = text[:start] + rewrite_text(text[start:end], Style()) + text[end:]
    if text == source:
        return source, []
    return _wrap_grown_lines(source, text)


def _prose_spans(source: str) -> list[tuple[int, int]] | None:
    """Character ranges of the comments and string literals of ``source``, in order."""
    prose = {tokenize.COMMENT, tokenize.STRING}
    prose |= {getattr(tokenize, name) for name in ("FSTRING_MIDDLE",) if hasattr(tokenize, name)}
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        return line_starts[position[0] - 1] + position[1]

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    return [(offset(token.start), offset(token.end)) for token in tokens if token.type in prose]


# --- wrapping what grew ---------------------------------------------------------------------------


def _wrap_grown_lines(before: str, after: str) -> tuple[str, list[int]]:
    old_lines, new_lines = before.split("\n"), after.split("\n")
    assert len(old_lines) == len(new_lines), "the rewrite keeps the line count"
    kinds = _line_kinds(after)
    out: list[str] = []
    left_long: list[int] = []
    for number, (old, rewritten) in enumerate(zip(old_lines, new_lines, strict=True), start=1):
        new = rewritten if rewritten == old else _trim_dash_rule(old, rewritten)
        if new == old or len(new) <= LINE_LIMIT:
            out.append(new)
            continue
        wrapped = _wrap(new, kinds.get(number))
        if wrapped is None:
            left_long.append(len(out) + 1)
            out.append(new)
        else:
            out.extend(wrapped)
    return "\n".join(out), left_long


def _trim_dash_rule(old: str, new: str) -> str:
    """A ``# --- title -----`` rule keeps its old width by losing dashes (at least three stay)."""
    match = re.search(r" (-{4,})$", new)
    if match is None or not new.lstrip().startswith("#"):
        return new
    keep = max(3, len(match.group(1)) - max(len(new) - len(old), 0))
    return new[: match.start(1)] + "-" * keep


@dataclass(frozen=True)
class _Kind:
    """What a physical line is: a comment line, code with a comment, or inside a long string."""

    what: str  # "comment" | "trailing" | "string"
    column: int  # where the comment or the string starts on this line (0 for continuation lines)


def _line_kinds(source: str) -> dict[int, _Kind]:
    kinds: dict[int, _Kind] = {}
    lines = source.split("\n")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        row, column = token.start
        if token.type == tokenize.COMMENT:
            code = lines[row - 1][:column]
            kinds[row] = _Kind("comment" if not code.strip() else "trailing", column)
        elif token.type == tokenize.STRING and token.string.endswith(('"""', "'''")):
            kinds[row] = _Kind("string", column)
            for inner in range(row + 1, token.end[0] + 1):
                kinds[inner] = _Kind("string", 0)
    return kinds


def _wrap(line: str, kind: _Kind | None) -> list[str] | None:
    if kind is None:
        return None
    if kind.what == "comment":
        indent = line[: kind.column]
        return [indent + "# " + chunk for chunk in _chunks(line[kind.column :].lstrip("#").strip(), LINE_LIMIT - len(indent) - 2)]
    if kind.what == "trailing":
        code = line[: kind.column].rstrip()
        indent = code[: len(code) - len(code.lstrip())]
        text = line[kind.column :].lstrip("#").strip()
        return [indent + "# " + chunk for chunk in _chunks(text, LINE_LIMIT - len(indent) - 2)] + [code]
    if kind.column:  # the line where the string starts: continue under its quotes
        indent, head, text = " " * kind.column, line[: kind.column], line[kind.column :]
    else:
        text = line.lstrip()
        indent = head = line[: len(line) - len(text)]
    first, *rest = _chunks(text, LINE_LIMIT - len(indent))
    return [head + first] + [indent + chunk for chunk in rest]


def _chunks(text: str, width: int) -> list[str]:
    """``text`` cut at spaces into pieces of at most ``width`` (a longer word stays whole)."""
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    pieces.append(current)
    return pieces


# --- which files ----------------------------------------------------------------------------------


def tracked_files(root: Path) -> list[Path]:
    """The repository's text files outside ``docs/`` (``git ls-files``; a plain walk without git)."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build"}
        listed = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not skip & set(p.relative_to(root).parts)]
    return [root / name for name in sorted(listed) if name and is_text_source(name) and not name.startswith("docs/")]


def is_text_source(name: str) -> bool:
    return Path(name).suffix in TEXT_SUFFIXES or name.startswith(SCRIPT_FOLDERS)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("files", nargs="*", type=Path, help="files to rewrite (default: every tracked text file outside docs/)")
    parser.add_argument("--check", action="store_true", help="change nothing; list what would change and exit 1 if anything would")
    args = parser.parse_args(list(argv) if argv is not None else None)
    files = [path.resolve() for path in args.files] if args.files else tracked_files(ROOT)
    results = [rewrite_file(path, write=not args.check) for path in files if path.is_file()]
    changed = [r for r in results if r.changed]
    for result in changed:
        print(f"{'would rewrite' if args.check else 'rewrote'} {_shown(result.path)}")
    for result in changed:
        for line in result.too_long:
            print(f"{_shown(result.path)}:{line}: longer than {LINE_LIMIT} characters; shorten it by hand", file=sys.stderr)
    print(f"{len(changed)} of {len(results)} files {'to rewrite' if args.check else 'rewritten'}")
    return 1 if args.check and changed else 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
