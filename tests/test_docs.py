"""The documentation site: it builds strictly, its config reference covers every field, and the
``evorl`` commands in its pages are commands the CLI accepts."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@functools.cache
def load_hook():
    spec = importlib.util.spec_from_file_location(
        "config_reference", DOCS / "hooks" / "config_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat_keys(cls: type, prefix: str = "") -> list[str]:
    """Every leaf key of a config dataclass (``env.id``, ``eval.episodes``, ...)."""
    default = load_hook()._default(cls)
    keys = []
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            keys += flat_keys(type(value), f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def test_config_reference_covers_every_field_and_optimizer_setting():
    hook = load_hook()
    markdown = hook.reference_markdown()
    for _, where, _ in hook.CONFIGS:
        for key in flat_keys(hook._load(where)):
            assert f"| `{key}` |" in markdown, (where, key)
    from evorl.optimizers import OPTIMIZERS, optimizer_settings

    for name in OPTIMIZERS:
        assert f"### `{name}`" in markdown
        for key in optimizer_settings(name):
            assert f"| `{key}` |" in markdown, (name, key)
    page = hook.on_page_markdown((DOCS / "reference" / "config.md").read_text(), None, None, None)
    assert hook.MARKER not in page and "## Evolution runs" in page


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    """``mkdocs build --strict``: a broken link, a missing nav page or a failing hook fails."""
    pytest.importorskip("mkdocs", reason="needs the docs extra")
    pytest.importorskip("material", reason="needs the docs extra (mkdocs-material)")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reference = (site / "reference" / "config" / "index.html").read_text()
    assert "pole_min_generalization" in reference and "stdev_learning_rate" in reference
    for page in ("evolution", "gradient", "fit", "evolino", "pole", "glimpse", "world-models"):
        assert (site / page / "index.html").is_file(), page


SHELL_FENCES = ("", "bash", "console", "sh", "shell")


def shell_blocks(text: str) -> list[str]:
    """The contents of the shell code blocks of a Markdown text (fences paired in order, so a
    ``python`` or ``text`` block in between is skipped whole)."""
    blocks, current, language = [], None, ""
    for line in text.splitlines():
        fence = line.strip()
        if fence.startswith("```"):
            if current is None:
                current, language = [], fence[3:].strip()
            else:
                if language in SHELL_FENCES:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def doc_commands() -> list[tuple[str, str]]:
    """(page, command line) of every ``evorl ...`` line in the pages' and the README's shell
    blocks, without shell redirections (``> file``, ``| head``)."""
    found = []
    for page in [*sorted(DOCS.rglob("*.md")), DOCS.parent / "README.md"]:
        for block in shell_blocks(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
                line = re.split(r"\s[>|]\s", line.strip())[0]
                if line.startswith("evorl "):
                    found.append((page.name, line))
    return found


def test_shell_blocks_pair_fences_in_order():
    text = "```python\nx = 1\n```\n```bash\nevorl list\n```\n"
    text += "```text\nevorl no\n```\n```\nevorl a\n```\n"
    assert shell_blocks(text) == ["evorl list", "evorl a"]
    joined = [line for page, line in doc_commands() if page == "sequence-labelling.md"]
    assert any("--val_data=val.nc" in line and "hidden=[100,100]" in line for line in joined)
    assert len(doc_commands()) > 60


@pytest.mark.parametrize(("page", "line"), doc_commands(), ids=lambda x: x[:60])
def test_documented_commands_parse(page, line):
    """Each documented command is accepted by the CLI (its options and sub-commands exist) and,
    for evolve/train from a preset, its overrides name real config keys."""
    from evorl.commands.cli import _parser, _split_overrides

    argv = shlex.split(line, comments=True)[1:]
    if "--help" in argv:
        return
    parser = _parser()
    argv, overrides = _split_overrides(parser, argv)
    args = parser.parse_args(argv)
    assert not overrides or getattr(args, "accepts_overrides", False), line
    source = getattr(args, "source", None)
    if args.command in ("evolve", "train") and (source is None or not source.endswith(".yaml")):
        extra = [o for o in overrides if not o.startswith("init_from")]
        if args.command == "evolve":
            from evorl.config import load_config

            load_config(source, extra)
        elif not args.list:
            from evorl.gradient.config import load_gradient_config

            load_gradient_config(source or "cartpole-novel", extra)
