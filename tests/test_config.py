"""Config loading: presets, YAML files, overrides, and one-line errors for bad input."""

from __future__ import annotations

import pytest

from evorl.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    from_dict,
    load_config,
    preset_names,
    to_dict,
)


def test_every_preset_loads():
    names = preset_names()
    for required in (
        "cartpole",
        "cartpole-novel",
        "pendulum",
        "acrobot",
        "lunarlander",
        "inverted-pendulum",
        "inverted-double-pendulum",
        "halfcheetah",
        "hopper",
    ):
        assert required in names
    for name in names:
        cfg = load_config(name)
        assert isinstance(cfg, RunConfig)
        assert cfg.name == name


def test_default_preset_is_lstm_cmaes_on_cartpole_without_velocities():
    cfg = load_config()
    assert (cfg.env.id, cfg.env.observe) == ("CartPole-v1", (0, 2))
    assert cfg.controller.kind == "lstm"
    assert cfg.optimizer.name == "cmaes"
    assert cfg.stop.target == 475


def test_overrides_are_typed_and_nested():
    cfg = load_config(
        "cartpole",
        [
            "--optimizer.popsize=32",
            "env.id=Acrobot-v1",
            "--controller.hidden=16",
            "--optimizer.settings={restarts: ipop}",
            "--stop.wall_time=1.5",
        ],
    )
    assert cfg.optimizer.popsize == 32
    assert cfg.env.id == "Acrobot-v1"
    assert cfg.controller.hidden == (16,)
    assert cfg.optimizer.settings == {"restarts": "ipop"}
    assert cfg.stop.wall_time == 1.5


def test_round_trip_through_plain_data():
    cfg = load_config("cartpole-novel")
    assert from_dict(RunConfig, to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--optimizer.popsiz=3"], "unknown config key 'optimizer.popsiz'"),
        (["--optimizer.popsize=many"], "optimizer.popsize: expected int"),
        (["--eval.episodes=0"], "eval.episodes must be >= 1"),
        (["--env.vectorization=gpu"], "env.vectorization must be one of"),
        (["--seed"], "must look like --key=value"),
        (
            ["--stop.generations=null", "--stop.target=null", "--stop.wall_time=null"],
            "at least one stopping rule",
        ),
        (["--controller.kind=transformer"], "controller"),
    ],
)
def test_bad_values_raise_one_line_config_errors(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config("cartpole", overrides)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_missing_file_unknown_preset_and_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {id: [CartPole\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_config(str(bad))


def test_apply_overrides_does_not_mutate_input():
    data = {"env": {"id": "CartPole-v1"}}
    out = apply_overrides(data, ["env.id=Acrobot-v1"])
    assert data["env"]["id"] == "CartPole-v1"
    assert out["env"]["id"] == "Acrobot-v1"


@pytest.mark.parametrize(
    ("spelling", "value"),
    [
        ("1e9", 1e9),
        ("1E9", 1e9),
        ("1.0e9", 1e9),
        ("1.0e+9", 1e9),
        ("2e-3", 0.002),
        (".5", 0.5),
        ("5.", 5.0),
        ("+7", 7.0),
        ("475", 475.0),
        ("inf", float("inf")),
        ("Infinity", float("inf")),
        ("1_000", 1000.0),
    ],
)
def test_numbers_are_read_as_a_user_means_them(spelling, value, tmp_path):
    """On the command line and in a YAML file alike (YAML 1.1 reads 1e9 as a string)."""
    from evorl.config import load_config

    assert load_config("cartpole-novel", [f"--stop.target={spelling}"]).stop.target == value
    path = tmp_path / "c.yaml"
    path.write_text(f"env: {{id: CartPole-v1}}\nstop: {{target: {spelling}}}\n")
    assert load_config(str(path)).stop.target == value


@pytest.mark.parametrize("spelling", ["1e3", "2E2", "+8", "1_000"])
def test_integer_fields_take_whole_numbers_in_any_spelling(spelling):
    from evorl.config import load_config

    popsize = load_config("cartpole-novel", [f"--optimizer.popsize={spelling}"]).optimizer.popsize
    assert popsize == int(float(spelling.replace("_", ""))) and isinstance(popsize, int)


@pytest.mark.parametrize("spelling", ["1.5", "1e-1", "inf", "nan", "ten"])
def test_integer_fields_refuse_what_is_not_a_whole_number(spelling):
    from evorl.config import load_config

    with pytest.raises(ConfigError, match=r"optimizer\.popsize"):
        load_config("cartpole-novel", [f"--optimizer.popsize={spelling}"])


@pytest.mark.parametrize(
    ("command", "module", "name"),
    [
        ("evolve", "evorl.config", "RunConfig"),
        ("train", "evorl.gradient.config", "GradientConfig"),
        ("fit", "evorl.supervised.config", "FitConfig"),
        ("wm evolve", "evorl.agents.worldmodel.config", "WorldModelConfig"),
    ],
)
def test_help_lists_every_config_field(command, module, name, capsys):
    """Every leaf field of the command's config dataclass, walked here, is in its --help."""
    import dataclasses
    import importlib
    import typing

    from evorl.commands import main

    def leaves(cls, prefix=""):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                yield from leaves(hints[f.name], f"{prefix}{f.name}.")
            else:
                yield prefix + f.name

    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    text = capsys.readouterr().out
    keys = list(leaves(getattr(importlib.import_module(module), name)))
    assert len(keys) > 10
    missing = [k for k in keys if f"  --{k}=" not in text]
    assert not missing
