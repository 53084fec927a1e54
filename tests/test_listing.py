"""``evorl list``: every registry, whole one-line descriptions, no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from evorl.commands import main
from evorl.commands.listing import first_sentence, format_section, sections


def registries() -> dict[str, list[str]]:
    """Every registry a user can run or name, by the ``evorl list`` section that shows it."""
    import evorl.envs
    from evorl.agents.glimpse.cli import TASKS as GLIMPSE_TASKS
    from evorl.agents.worldmodel.config import preset_names as wm_presets
    from evorl.config import preset_names
    from evorl.controllers import CONTROLLERS
    from evorl.gradient.config import preset_names as gradient_presets
    from evorl.optimizers import OPTIMIZERS
    from evorl.tasks.sequences import TASKS as FIT_TASKS
    from evorl.tasks.timeseries import TASKS as BENCH_TASKS

    return {
        "presets": preset_names(),
        "gradient-presets": gradient_presets(),
        "wm-presets": wm_presets(),
        "glimpse-tasks": list(GLIMPSE_TASKS),
        "fit-tasks": list(FIT_TASKS),
        "bench-tasks": list(BENCH_TASKS),
        "envs": list(evorl.envs.ENV_IDS),
        "controllers": list(CONTROLLERS),
        "optimizers": list(OPTIMIZERS),
    }


def test_the_list_covers_every_registry():
    found = {section.name: section.names for section in sections()}
    assert found == registries()


def test_every_entry_has_a_whole_description():
    """No description is empty or cut inside a sentence ("Gomez et al", "i.e")."""
    for section in sections():
        for name, text in section.entries:
            assert text, (section.name, name)
            assert text.count("(") == text.count(")"), (section.name, name, text)
            assert text.count("[") == text.count("]"), (section.name, name, text)
            for cut in ("et al", "i.e", "e.g", " al"):
                assert not text.rstrip(".").endswith(cut), (section.name, name, text)


@pytest.mark.parametrize("name", ["presets", "gradient-presets", "wm-presets"])
def test_preset_summaries_are_one_short_sentence(name):
    (section,) = [s for s in sections() if s.name == name]
    for preset, text in section.entries:
        summary = text.split(" [")[0]
        assert summary.endswith("."), (preset, summary)
        assert len(summary) <= 180, (preset, len(summary), summary)


def test_first_sentence_skips_abbreviations_and_brackets():
    assert first_sentence("A (Wieland; Gomez et al. 2008). B.") == "A (Wieland; Gomez et al. 2008)."
    assert first_sentence("x >= 3.8, i.e. >= 95% right. Tuned.") == "x >= 3.8, i.e. >= 95% right."
    assert first_sentence("By J. Schmidhuber. Then.") == "By J. Schmidhuber."
    assert first_sentence("no full stop") == "no full stop"


def test_one_line_per_entry_unless_wrapped():
    section = next(s for s in sections() if s.name == "presets")
    lines = format_section(section).splitlines()
    assert len(lines) == 1 + len(section.entries)
    wrapped = format_section(section, width=72).splitlines()
    assert len(wrapped) > len(lines) and max(map(len, wrapped)) <= 72


def test_list_one_section_and_unknown_section(capsys):
    assert main(["list", "glimpse-tasks"]) == 0
    out = capsys.readouterr().out
    assert "cluttered" in out and "optimizers" not in out
    assert main(["list", "nope"]) == 2
    assert "known: all, presets" in capsys.readouterr().err


def test_train_list_shows_whole_first_sentences(capsys):
    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    assert "(Wieland; Gomez et al. 2008), standard fitness." in out
    assert "i.e\n" not in out and "et al\n" not in out


def test_list_imports_neither_torch_nor_pycma():
    code = (
        "import sys; from evorl.commands import main; main(['list']); "
        "print(sorted(m for m in ('torch', 'cma', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.splitlines()[-1] == "[]"
    for names in registries().values():
        for name in names:
            assert f"  {name} " in out, name


def test_envs_missing_from_the_table_take_their_entry_points_docstring(monkeypatch):
    import evorl.envs
    from evorl.commands.listing import envs

    monkeypatch.setattr(evorl.envs, "__doc__", "")
    section = envs()
    assert all(text for _, text in section.entries)
    assert dict(section.entries)["evorl/Catch-v0"].startswith("Catch a falling ball")
