"""RNNLIB's labelling tasks in evorl's loop: configs (evorl's and RNNLIB's files), NetCDF data
for each task, one-line errors, run directories that resume exactly, early stopping, RPROP's
epoch updates, weight noise from a converged run, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import evorl.commands.cli
from evorl.builder import build_trainer, resume_run, start_run
from evorl.config import ConfigError
from evorl.labelling import RnnlibData, write_rnnlib
from evorl.labelling.config import read_rnnlib_config, resolve_label_config
from evorl.labelling.datasets import load_splits
from evorl.logger import read_metrics

TINY_DIGITS = ["data=digits", "data.lines=12", "data.valid_lines=4", "data.test_lines=4"]


def cli(*argv: str) -> int:
    return evorl.commands.cli.main(list(argv))


def tiny(task: str, *extra: str, hidden: int = 4):
    return resolve_label_config(task, [f"controller.hidden=[{hidden}]", *extra])


def rows_without_timing(run_dir) -> list[dict]:
    return [
        {k: v for k, v in r.items() if not k.startswith(("time/", "perf/"))}
        for r in read_metrics(run_dir)
    ]


def toy_files(tmp_path, task: str, ndim: int = 1, count: int = 6) -> dict[str, str]:
    """Train and test NetCDF files of a toy task: the label is the sign of the inputs' sum."""
    rng = np.random.default_rng(0)
    paths = {}
    for split in ("train", "test"):
        inputs, strings, classes = [], [], []
        for s in range(count):
            shape = (3 + s % 3,) if ndim == 1 else (4, 3 + s % 3)
            x = rng.normal(size=(*shape, 2)).astype(np.float32)
            label = int(x.sum() > 0)
            inputs.append(x)
            strings.append("ab"[label] if task != "transcription" else f"{'ab'[label]} b")
            classes.append(np.full(shape, label, dtype=np.int32))
        data = RnnlibData(inputs, labels=["a", "b"])
        if task == "classification":
            data.target_classes = classes
        else:
            data.target_strings = strings
        paths[split] = str(write_rnnlib(tmp_path / f"{split}.nc", data))
    return paths


# ----------------------------------------------------------------------------- configs


def test_config_layers_rnnlib_defaults_data_defaults_file_and_overrides():
    plain = resolve_label_config("transcription", ["data=train.nc"])
    assert (plain.optimiser, plain.learn_rate, plain.momentum, plain.batch_size) == (
        "steepest",
        1e-4,
        0.9,
        1,
    )
    assert plain.controller.hidden == (100,) and plain.controller.peepholes
    assert (plain.max_tests_no_best, plain.mdl_init_std, plain.net) == (20, 0.075, "auto")
    digits = resolve_label_config("transcription", ["net=mdlstm", "learn_rate=0.02"])
    assert digits.data == "digits" and digits.optimiser == "adam" and digits.learn_rate == 0.02
    assert digits.input_block == (2, 2) and digits.controller.hidden == (8, 32)
    from_file = resolve_label_config(None, ["mdl=true"], {"task": "classification", "seed": 3})
    assert (from_file.task, from_file.seed, from_file.mdl) == ("classification", 3, True)
    assert resolve_label_config("transcription", ["data.lines=5"]).data_options == {"lines": 5}
    assert resolve_label_config("transcription", ["optimiser=rprop"]).update_per_epoch
    for bad in (
        ["optimiser=sgd"],
        ["hidden_blocks=[[2,2],[2,2]]"],
        ["input_block=[2]"],
        ["net=mdlstm", "controller.kind=gru"],
        ["nope=1"],
    ):
        with pytest.raises(ConfigError):
            resolve_label_config("transcription", bad)


def test_rnnlib_config_file_maps_options_and_reverses_blocks(tmp_path):
    path = tmp_path / "exp.config"
    path.write_text(
        "task transcription\n"
        "hiddenType lstm\n"
        "hiddenSize 2,10,50   # three levels\n"
        "inputBlock 3,4\n"
        "hiddenBlock 3,4;2,4\n"
        "subsampleSize 6,20\n"
        "trainFile train.nc\n"
        "learnRate 1e-5\n"
        "mdl true\n"
        "autosave true\n"
    )
    data = read_rnnlib_config(path)
    assert data["input_block"] == [4, 3] and data["hidden_blocks"] == [[4, 3], [4, 2]]
    assert data["data"] == str(tmp_path / "train.nc") and data["mdl"] is True
    cfg = resolve_label_config(None, ["learn_rate=1e-6"], data)
    assert cfg.controller.hidden == (2, 10, 50) and cfg.learn_rate == 1e-6
    rnnlib_names = ["--learnRate=1e-5", "--hiddenSize=7,7,7", "--inputBlock=1,2", "--mdl=false"]
    cfg = resolve_label_config(None, rnnlib_names, data)
    assert cfg.learn_rate == 1e-5 and cfg.controller.hidden == (7, 7, 7)
    assert cfg.input_block == (2, 1) and not cfg.mdl
    (tmp_path / "bad.config").write_text("task transcription\nweirdOption 3\n")
    with pytest.raises(ConfigError, match=r"bad\.config:2: RNNLIB option 'weirdOption'"):
        read_rnnlib_config(tmp_path / "bad.config")


# ----------------------------------------------------------------------------- data and nets


@pytest.mark.parametrize(
    ("task", "ndim", "net"),
    [
        ("transcription", 1, "blstm"),
        ("sequence_classification", 1, "blstm"),
        ("classification", 1, "blstm"),
        ("transcription", 2, "mdlstm"),
        ("sequence_classification", 2, "mdlstm"),
        ("classification", 2, "mdlstm"),
        ("transcription", 2, "blstm"),
    ],
)
def test_each_task_trains_from_rnnlib_files(tmp_path, task, ndim, net):
    files = toy_files(tmp_path, task, ndim)
    cfg = tiny(
        task,
        f"data={files['train']}",
        f"test_data={files['test']}",
        f"net={net}",
        "max_epochs=2",
        "batch_size=2",
        "optimiser=adam",
        "learn_rate=0.01",
    )
    trainer = build_trainer(cfg)
    state = trainer.run()
    assert state.stop_reason == "epochs" and state.episodes == 12 and state.iteration == 6
    assert trainer.tester.test_at_best and np.isfinite(state.champion_score)


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (None, ["data=missing.nc"], "missing.nc: no such file"),
        ("seqcls2", [], "needs one label per sequence"),
        ("wide", ["val_data={wide}"], "inputPattSize 3 differs"),
        ("1d", ["net=mdlstm"], "mdlstm reads 2-D data"),
        ("2d-cls", ["task=classification", "net=mdlstm", "input_block=[2,2]"], "every pixel"),
        ("2d-heights", ["net=blstm"], "needs images of one height"),
        ("1d", ["input_block=[2,2]"], "need net=mdlstm"),
    ],
)
def test_bad_files_and_shapes_are_one_line_errors(tmp_path, capsys, make, extra, message):
    files = {"train": "missing.nc"}
    if make is not None:
        task = {"seqcls2": "transcription", "2d-cls": "classification"}.get(
            make, "sequence_classification"
        )
        files = toy_files(tmp_path, task, 2 if make.startswith("2d") else 1)
        if make == "2d-heights":
            x = [np.zeros((4, 3, 2), np.float32), np.zeros((5, 3, 2), np.float32)]
            data = RnnlibData(x, labels=["a", "b"], target_strings=["a", "b"])
            files["train"] = str(write_rnnlib(tmp_path / "heights.nc", data))
        wide = RnnlibData([np.zeros((3, 3), np.float32)], labels=["a", "b"], target_strings=["a"])
        files["wide"] = str(write_rnnlib(tmp_path / "wide.nc", wide))
    argv = [
        "fit",
        "sequence_classification",
        f"--data={files['train']}",
        "--max_epochs=1",
        "--run-dir",
        str(tmp_path / "run"),
        "--controller.hidden=[2]",
    ]
    argv += ["--" + e.format(**files) for e in extra]
    assert cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()  # no run directory for a config error


@pytest.mark.slow
def test_builtin_sets_and_data_fraction():
    vowels = load_splits(tiny("sequence_classification", "data_fraction=0.1"))
    assert len(vowels.train) == 27 and len(vowels.test) == 37 and vowels.valid is None
    assert sorted(set(vowels.train.targets)) == list(range(9))  # evenly spread: every speaker
    held = load_splits(tiny("classification", "valid_fraction=0.1"))
    assert len(held.valid) == 27 and len(held.train) == 243
    assert held.train.targets[0].shape == held.train.inputs[0].shape[:1]
    digits = load_splits(tiny("transcription", *TINY_DIGITS))
    assert [len(s) for s in digits.sets()] == [12, 4, 4] and digits.train.ndim == 2
    again = load_splits(tiny("transcription", *TINY_DIGITS, "seed=5"))  # data seed is its own
    assert digits.train.targets == again.train.targets


# ----------------------------------------------------------------------------- the loop


@pytest.mark.slow
def test_label_run_resumes_exactly_with_weight_noise(tmp_path):
    common = [*TINY_DIGITS, "mdl=true", "checkpoint_every=2", "batch_size=5"]
    full = start_run(tiny("transcription", *common, "max_epochs=4"), tmp_path / "full")
    full.run()
    part = start_run(tiny("transcription", *common, "max_epochs=2"), tmp_path / "part")
    part.run()
    again = resume_run(tmp_path / "part", tiny("transcription", *common, "max_epochs=4"))
    state = again.run()
    assert state.episodes == 48 and state.iteration == 12
    assert rows_without_timing(tmp_path / "part") == rows_without_timing(tmp_path / "full")
    assert any("mdl/complexity" in r for r in read_metrics(tmp_path / "full"))


@pytest.mark.slow
def test_early_stopping_ends_the_run_after_max_tests_no_best():
    cfg = tiny(
        "sequence_classification",
        "data_fraction=0.05",
        "max_tests_no_best=2",
        "learn_rate=1e-15",
        "optimiser=steepest",
        "momentum=0.0",
    )
    trainer = build_trainer(cfg)
    state = trainer.run()
    # test 1 sets the bests; tests 2-4 bring none: more than 2 in a row stops after test 4
    assert state.stop_reason == "early stopping" and trainer.learner.epoch == 4


def test_rprop_learns_once_per_epoch_by_default():
    trainer = build_trainer(
        tiny("sequence_classification", "data_fraction=0.1", "max_epochs=3", "optimiser=rprop")
    )
    state = trainer.run()
    assert state.iteration == 3 and state.episodes == 81


@pytest.mark.slow
def test_weight_noise_retrains_a_converged_net_from_init_from(tmp_path):
    first = start_run(tiny("transcription", *TINY_DIGITS, "max_epochs=2"), tmp_path / "plain")
    first.run()
    best = first.champion_file["params"]
    cfg = tiny(
        "transcription", *TINY_DIGITS, "max_epochs=1", "mdl=true", f"init_from={tmp_path / 'plain'}"
    )
    trainer = build_trainer(cfg)
    np.testing.assert_allclose(trainer.learner.policy_params(), best, rtol=1e-6)
    sigma = torch.cat([r.exp().reshape(-1) for r in trainer.learner.noisy.log_std])
    assert torch.allclose(sigma, torch.tensor(0.075))
    trainer.run()
    mismatch = tiny(
        "transcription", *TINY_DIGITS, "init_from=" + str(tmp_path / "plain"), "bidirectional=false"
    )
    with pytest.raises(ConfigError, match="not a labelling run with this run's net"):
        build_trainer(mismatch)


@pytest.mark.slow
def test_blstm_learns_japanese_vowels_in_a_few_epochs():
    trainer = build_trainer(tiny("sequence_classification", "max_epochs=6", hidden=16))
    trainer.run()
    assert trainer.tester.test_at_best["classificationError"] < 0.3  # chance: 0.89


# ----------------------------------------------------------------------------- the command


@pytest.mark.slow
def test_evorl_fit_labelling_command_plot_json_resume(tmp_path, capsys):
    run, js, png = tmp_path / "run", tmp_path / "out.json", tmp_path / "curve.png"
    args = [
        "fit",
        "transcription",
        *(f"--{o}" for o in TINY_DIGITS),
        "--controller.hidden=[4]",
        "--max_epochs=2",
        "--run-dir",
        str(run),
        "--json",
        str(js),
        "--plot",
        str(png),
    ]
    assert cli(*args) == 0
    out = capsys.readouterr().out
    assert "epoch    1" in out and "valid/labelError" in out
    assert "best validation error" in out and "test errors of the best validated net" in out
    assert set(json.loads(js.read_text())["test_at_best"]) == {
        "ctcError",
        "labelError",
        "sequenceError",
    }
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert cli("resume", str(run), "--max_epochs=3", "--quiet") == 0
    assert "stopped (epochs) after 3 updates, 36 sequences" in capsys.readouterr().out
    assert cli("plot", str(run)) == 0
    assert cli("eval", str(run)) == 2  # a data task: nothing to play


def test_evorl_fit_reads_yaml_and_rnnlib_config_files(tmp_path, capsys):
    files = toy_files(tmp_path, "transcription")
    (tmp_path / "exp.config").write_text(
        f"task transcription\nhiddenSize 3\ntrainFile {files['train']}\nmaxTestsNoBest 5\n"
    )
    assert (
        cli(
            "fit",
            str(tmp_path / "exp.config"),
            "--max_epochs=1",
            "--quiet",
            "--run-dir",
            str(tmp_path / "a"),
        )
        == 0
    )
    (tmp_path / "exp.yaml").write_text(f"task: transcription\ndata: {files['train']}\n")
    assert cli("fit", str(tmp_path / "exp.yaml"), "--print-config") == 0
    assert "max_tests_no_best: 20" in capsys.readouterr().out
    (tmp_path / "fit.yaml").write_text("task: xor\nalgo: rtrl\nmax_sequences: 400\n")
    assert cli("fit", str(tmp_path / "fit.yaml"), "--print-config") == 0
    assert "max_sequences: 400" in capsys.readouterr().out
