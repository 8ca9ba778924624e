"""The README and docs/ stay true: every ``siamfc`` command they show uses options that its
``--help`` lists, every page they link to exists, and the README stays short."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracker.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "weights" / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def commands(page: Path) -> list[str]:
    """The ``siamfc ...`` command lines of ``page``'s code blocks (continuations joined,
    comments dropped)."""
    out, in_code, pending = [], False, ""
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code, pending = not in_code, ""
            continue
        if not in_code:
            continue
        line = pending + line.split(" #")[0].rstrip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        for part in re.split(r"&&|;", line):
            part = part.strip()
            if part.startswith("siamfc "):
                out.append(part)
    return out


def subcommand_help() -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: p.format_help() for name, p in sub.choices.items()}


HELP = subcommand_help()
SHOWN = [(page.name, cmd) for page in PAGES for cmd in commands(page)]


def test_the_pages_show_commands():
    assert len(SHOWN) >= 25 and {cmd.split()[1] for _, cmd in SHOWN} >= {
        "track", "webcam", "demo", "eval", "train", "bench", "soak", "quantize", "fit-score"}


@pytest.mark.parametrize("page,command", SHOWN)
def test_every_option_shown_exists(page, command):
    words = command.split()
    name = words[1]
    if name.startswith("-"):                        # siamfc --version
        assert name in build_parser().format_help(), command
        return
    assert name in HELP, f"{page}: unknown command in {command!r}"
    for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", command):
        assert re.search(rf"(?<![\w-]){re.escape(option)}\b", HELP[name]), \
            f"{page}: {option} is not an option of siamfc {name} ({command!r})"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_between_pages_resolve(page):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_the_option_check_can_fail():
    assert not re.search(r"(?<![\w-])--no-such-option\b", HELP["track"])
    assert commands(ROOT / "README.md")[0].startswith("siamfc ")
