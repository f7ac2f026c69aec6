"""Tier 1: every citation of docs/ names a section that exists, and nothing cites what the
repository does not hold.

Code and tests cite the project's reference by section number, ``docs/protocol.md#6.2`` (a
heading ``### 6.2 ...`` in docs/protocol.md). The research notes, their errata and the early
contract tags that code once cited are not in the repository; ``scripts/rewrite_citations.py``
rewrites such citations, and the last test below fails on any left.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".cfg", ".sh", ".toml", ".txt", ".ini"}
SCRIPT_FOLDERS = ("scripts/", ".ci/")
SECTION = "\u00a7"  # escaped: this file must not match what it looks for

CITATION = re.compile(r"\bdocs/(?P<file>[\w.-]+\.md)#(?P<number>\d+(?:\.\d+)*)")
# A link from one page of docs/ to another: [text](protocol.md#6.2)
DOCS_LINK = re.compile(r"\]\((?:\./)?(?P<file>[\w.-]+\.md)#(?P<number>\d+(?:\.\d+)*)\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<text>.*)$")
NUMBERED_HEADING = re.compile(r"^#{1,6}\s+(?P<number>\d+(?:\.\d+)*)[. ]")
ANCHOR = re.compile(r'^<a id="(?P<number>\d+(?:\.\d+)*)"></a>$')
FENCE = re.compile(r"^\s*```")

REWRITE_HINT = "`python scripts/rewrite_citations.py` rewrites the old citations into citations of docs/"
FORBIDDEN: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(rf"\bspec\s*{SECTION}\s*\d", re.IGNORECASE),
        "cites the research notes, which are not in the repository: cite docs/protocol.md#<section>",
    ),
    (
        re.compile(rf"(?<!\d ){SECTION}\s*\d"),
        f"a section sign cites the research notes: cite docs/protocol.md#<section> (an RFC's: 'RFC <n> {SECTION}<m>')",
    ),
    (
        re.compile(r"\berrata\s+\d", re.IGNORECASE),
        "cites the notes' errata: they are docs/protocol.md#13.<n>",
    ),
    (
        re.compile(r"\bcontract\s+C\d"),
        "cites an early contract tag: the contracts are docs/architecture.md#4.<n>",
    ),
    (
        re.compile(r"(?<![\w./#-])C[1-9]\b(?![\w.-])"),
        "looks like an early contract tag: the contracts are docs/architecture.md#4.<n>",
    ),
    (
        re.compile(r"\.\./shared\b|/work/(?:shared)\b"),
        "points outside the repository, which a reader of the repository cannot open: cite docs/ instead",
    ),
)


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        try:
            shown = self.path.relative_to(ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}: {self.text!r}: {self.why}"


# --- what the checks read -------------------------------------------------------------------------


def repository_files(root: Path = ROOT) -> list[Path]:
    """The tracked text files (``git ls-files``; a walk of the tree when there is no git)."""
    try:
        names = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build"}
        names = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not skip & set(p.relative_to(root).parts)]
    return [root / name for name in sorted(names) if Path(name).suffix in TEXT_SUFFIXES or name.startswith(SCRIPT_FOLDERS)]


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError):
        return
    yield from enumerate(text.splitlines(), start=1)


def section_numbers(page: Path) -> dict[str, int]:
    """Section number → line of its heading, for headings outside code blocks."""
    sections: dict[str, int] = {}
    fenced = False
    for number, line in numbered_lines(page):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := NUMBERED_HEADING.match(line)):
            sections.setdefault(match["number"], number)
    return sections


# --- the checks -----------------------------------------------------------------------------------


def unresolved_citations(files: Iterable[Path], docs: Path) -> list[Problem]:
    """Citations ``docs/<page>.md#<n>`` (and links between pages of ``docs``) whose page or
    section does not exist."""
    pages: dict[str, dict[str, int] | None] = {}

    def sections_of(name: str) -> dict[str, int] | None:
        if name not in pages:
            page = docs / name
            pages[name] = section_numbers(page) if page.is_file() else None
        return pages[name]

    problems = []
    for path in files:
        in_docs = path.parent == docs
        for line_number, line in numbered_lines(path):
            found = list(CITATION.finditer(line)) + (list(DOCS_LINK.finditer(line)) if in_docs else [])
            for match in found:
                sections = sections_of(match["file"])
                if sections is None:
                    problems.append(Problem(path, line_number, match[0], f"docs/{match['file']} does not exist"))
                elif match["number"] not in sections:
                    problems.append(Problem(path, line_number, match[0], _missing_section(match["file"], match["number"], sections)))
    return problems


def _missing_section(page: str, number: str, sections: dict[str, int]) -> str:
    parent = number.rsplit(".", 1)[0] if "." in number else ""
    nearby = sorted((n for n in sections if n.rsplit(".", 1)[0] == parent or n == parent), key=_sort_key)
    return (
        f"docs/{page} has no heading numbered {number} (a heading must start '{number}.' or '{number} ');"
        f" the sections near it are {', '.join(nearby) or 'none'}"
    )


def _sort_key(number: str) -> list[int]:
    return [int(part) for part in number.split(".")]


def headings_without_anchor(pages: Iterable[Path]) -> list[Problem]:
    """Numbered headings not preceded by ``<a id="<number>"></a>`` and a blank line, which makes
    ``docs/protocol.md#6.2`` a working link in rendered Markdown."""
    problems = []
    for page in pages:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line_number in section_numbers(page).items():
            index = line_number - 1
            anchor = ANCHOR.match(lines[index - 2]) if index >= 2 and not lines[index - 1].strip() else None
            if anchor is None or anchor["number"] != number:
                why = f'put <a id="{number}"></a> and a blank line above it, so that links to #{number} land on it'
                problems.append(Problem(page, line_number, lines[index], why))
    return problems


def forbidden_citations(files: Iterable[Path], docs: Path) -> list[Problem]:
    """Citations of texts outside the repository, in every file outside ``docs``."""
    problems = []
    for path in files:
        if docs in path.parents:
            continue
        for line_number, line in numbered_lines(path):
            why = next((why for pattern, why in FORBIDDEN if pattern.search(line)), None)
            if why is not None:
                problems.append(Problem(path, line_number, line.strip()[:120], why))
    return problems


def _report(problems: list[Problem], what: str) -> str:
    return f"{len(problems)} {what}:\n" + "\n".join(f"  {problem}" for problem in problems)


# --- the checks on made-up files, so that they are known to catch what they are for ---------------


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _cite(page: str, number: str) -> str:
    # Built, not written out: the checks on this repository read this file too.
    return f"docs/{page}#{number}"


def test_a_citation_resolves_to_a_heading_that_starts_with_its_number(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _write(docs, "protocol.md", "# Title\n\n## 6. meta\n\n### 6.2 Operations handled\n\n### 6.20 Not 6.2\n")
    code = _write(tmp_path, "a.py", f"# {_cite('protocol.md', '6')} and {_cite('protocol.md', '6.2')}: insert never overwrites.\n")

    assert unresolved_citations([code], docs) == []


def test_a_citation_of_a_missing_section_or_page_is_reported_with_file_and_line(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _write(docs, "protocol.md", "## 6. meta\n\n### 6.2 Operations\n\n```\n### 6.3 in a code block\n```\n")
    missing = [_cite("protocol.md", "6.3"), _cite("protocol.md", "6.21"), _cite("nowhere.md", "1")]
    code = _write(tmp_path, "a.py", f"x = 1\n# {missing[0]} and {missing[1]}\n# {missing[2]}\n")

    problems = unresolved_citations([code], docs)

    assert [(p.line, p.text) for p in problems] == [(2, missing[0]), (2, missing[1]), (3, missing[2])]
    assert "has no heading numbered 6.3" in problems[0].why and "near it are 6, 6.2" in problems[0].why
    assert "docs/nowhere.md does not exist" in problems[2].why


def test_links_between_pages_of_docs_are_checked_too(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _write(docs, "architecture.md", "## 4. Contracts\n")
    page = _write(docs, "protocol.md", "See [architecture 4](architecture.md#4) and [4.9](architecture.md#4.9).\n")

    problems = unresolved_citations([page], docs)

    assert [p.text for p in problems] == ["](architecture.md#4.9)"]


def test_a_numbered_heading_without_its_anchor_is_reported(tmp_path: Path) -> None:
    page = _write(tmp_path, "protocol.md", '<a id="1"></a>\n\n## 1. One\n\n### 1.1 No anchor\n\n<a id="1.3"></a>\n\n### 1.2 Wrong one\n')

    problems = headings_without_anchor([page])

    assert [(p.line, p.text) for p in problems] == [(5, "### 1.1 No anchor"), (9, "### 1.2 Wrong one")]


def test_old_citations_are_reported_outside_docs_and_allowed_inside(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    lines = [
        "# spec " + SECTION + "6.2: insert never overwrites",
        "# as the notes say (" + SECTION + "3.9, " + SECTION + "6.4)",
        "# Errat" + "a 4: defaults filled in",
        "# edged and meta (contract " + "C" + "3)",
        "# routing (" + "C" + "1, " + "C" + "2)",
        "# see ../shar" + "ed/spec",
        "# frames as RFC 6455 " + SECTION + "5.2 says; docs/protocol.md#6.2; class C10; 0xC1",
    ]
    code = _write(tmp_path, "a.py", "\n".join(lines) + "\n")
    inside = _write(docs, "protocol.md", "\n".join(lines) + "\n")

    problems = forbidden_citations([code, inside], docs)

    assert sorted({p.line for p in problems}) == [1, 2, 3, 4, 5, 6]
    assert all(p.path == code for p in problems)


# --- the checks on this repository ----------------------------------------------------------------


def test_every_docs_citation_in_the_repository_names_a_section_that_exists() -> None:
    files = repository_files()

    problems = unresolved_citations(files, DOCS)

    assert not problems, _report(problems, "citations of docs/ that lead nowhere")


def test_every_numbered_heading_of_docs_has_an_anchor_for_links() -> None:
    pages = sorted(DOCS.glob("*.md"))

    problems = headings_without_anchor(pages)

    assert pages and not problems, _report(problems, "numbered headings without an anchor")


def test_no_file_outside_docs_cites_texts_the_repository_does_not_hold() -> None:
    files = repository_files()

    problems = forbidden_citations(files, DOCS)

    assert not problems, _report(problems, f"citations of texts that are not in the repository ({REWRITE_HINT})")
