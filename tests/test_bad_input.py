"""Bad input, fuzzed across every command: exit code 2, exactly one line on stderr, no traceback,
and nothing written outside the run's directory (nor inside it, for a refused resume).

Each case runs the real command line in-process (``evorl.commands.main``, with the agents'
commands registered by their entry points) from a fresh working folder; the commands that need
a run share one tiny fixture run, whose files must be byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from evorl.commands import main

TINY = [
    "--controller.hidden=[3]",
    "--optimizer.popsize=4",
    "--eval.test_every=1",
    "--eval.test_episodes=2",
    "--stop.generations=2",
    "--stop.wall_time=null",
    "--stop.target=null",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One finished evolution run, one gradient run, and files that are wrong in every way."""
    base = tmp_path_factory.mktemp("bad-input")
    torch.set_num_threads(1)
    run, grad = base / "run", base / "grad"
    assert main(["evolve", "cartpole-novel", "--run-dir", str(run), "--quiet", *TINY]) == 0
    grad_args = ["--stop.env_steps=256", "--ppo.steps=32", "--ppo.num_envs=2", "--ppo.bptt=8"]
    grad_args += ["--ppo.minibatches=2", "--eval.test_every=1", "--eval.test_episodes=1"]
    assert main(["train", "tmaze-10", "--run-dir", str(grad), "--quiet", *grad_args]) == 0
    files = base / "files"
    files.mkdir()
    (files / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (files / "intkeys.yaml").write_text("1: 2\n")
    (files / "list.yaml").write_text("- a\n- b\n")
    (files / "malformed.yaml").write_text("a: [1, 2\n")
    (files / "unknown.yaml").write_text("nope: 1\n")
    (files / "a_file").write_text("not a folder\n")
    for name, content in {
        "badconfig": "a: [1,\n",
        "listconfig": "- 1\n",
        "kindconfig": "kind: mystery\n",
    }.items():
        (files / name).mkdir()
        (files / name / "config.yaml").write_text(content)
    broken = files / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_bytes((run / "config.yaml").read_bytes())
    (broken / "checkpoint.pt").write_bytes(b"garbage")
    (broken / "best.pt").write_bytes(b"garbage")
    (broken / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, "fit\n')
    nometrics = files / "nometrics"
    nometrics.mkdir()
    (nometrics / "config.yaml").write_bytes((run / "config.yaml").read_bytes())
    return {"run": run, "grad": grad, "files": files, "base": base}


def _fill(arg: str, world: dict[str, Path]) -> str:
    """``{run}``, ``{grad}``, ``{files}``, ``{base}`` replaced by the fixture's folders."""
    for name, path in world.items():
        arg = arg.replace("{" + name + "}", str(path))
    return arg


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


E, G, F = "evolve", "train", "fit"
CASES: list[tuple[str, ...]] = [
    # ----- evolve: unknown keys and wrong types
    (E, "--optimizer.popsiz=3"),
    (E, "--nope=1"),
    (E, "--env.idd=x"),
    (E, "--eval.episodes=abc"),
    (E, "--seed=1.5"),
    (E, "--seed=abc"),
    (E, "--optimizer.sigma=abc"),
    (E, "--stop.target=abc"),
    (E, "--controller.hidden=abc"),
    (E, "--controller.hidden=[a]"),
    (E, "--env.kwargs=3"),
    (E, "--env.observe=abc"),
    (E, "--optimizer.settings=3"),
    (E, "--eval.obs_norm=maybe"),
    (E, "--controller.forget_gate=maybe"),
    (E, "--checkpoint_every=[1]"),
    # ----- evolve: values out of range
    (E, "--stop.generations=0"),
    (E, "--stop.generations=-3"),
    (E, "--stop.wall_time=-5"),
    (E, "--stop.wall_time=0"),
    (E, "--stop.evaluations=-1"),
    (E, "--stop.env_steps=0"),
    (E, "--eval.obs_clip=-1"),
    (E, "--eval.obs_clip=0"),
    (E, "--eval.episodes=0"),
    (E, "--eval.max_envs=0"),
    (E, "--eval.test_every=-1"),
    (E, "--eval.test_episodes=0"),
    (E, "--eval.workers=-1"),
    (E, "--eval.threads=0"),
    (E, "--eval.ray_timeout=0"),
    (E, "--optimizer.popsize=1"),
    (E, "--optimizer.popsize=0"),
    (E, "--optimizer.sigma=0"),
    (E, "--optimizer.sigma=-1"),
    (E, "--optimizer.sigma=inf"),
    (E, "--optimizer.sigma=nan"),
    (E, "--seed=-1"),
    (E, "--checkpoint_every=0"),
    (E, "--env.max_episode_steps=0"),
    (E, "--eval.pole_min_generalization=626"),
    (E, "--eval.pole_min_generalization=-1"),
    (E, "--stop.target=null", "--stop.generations=null", "--stop.wall_time=null"),
    # ----- evolve: words that are not one of the choices
    (E, "--eval.evaluator=gpu"),
    (E, "--env.vectorization=fast"),
    (E, "--eval.pole_protocol=best"),
    (E, "--eval.obs_nonfinite=ignore"),
    (E, "--controller.kind=transformer"),
    (E, "--controller.init=zeros"),
    (E, "--controller.activation=gelu"),
    (E, "--controller.continuous_action=sample"),
    (E, "--optimizer.name=adam"),
    # ----- evolve: controllers and optimizers that cannot be built
    (E, "--controller.hidden=[]"),
    (E, "--controller.hidden=[0]"),
    (E, "--controller.hidden=[-4]"),
    (E, "--controller.init_scale=0"),
    (E, "--controller.kind=fully_recurrent", "--controller.hidden=[1]"),
    (E, "--controller.hidden=[200000]"),
    (E, "--controller.hidden=[3000]"),
    (E, "--optimizer.popsize=1000000000"),
    (E, "--optimizer.settings={nope: 1}"),
    (E, "--optimizer.settings={restarts: sometimes}"),
    (E, "--optimizer.settings={cma_options: {nope: 1}}"),
    (E, "--optimizer.settings={max_restarts: -1}"),
    (E, "--optimizer.name=pgpe", "--optimizer.popsize=7"),
    (E, "--optimizer.name=esp", "--optimizer.popsize=30"),
    (E, "--optimizer.name=esp", "--optimizer.settings={subpop_size: 2}"),
    (E, "--optimizer.name=snes", "--optimizer.settings={ranking: best}"),
    (E, "--optimizer.name=cosyne", "--optimizer.settings={elite_fraction: 0.9}"),
    # ----- evolve: names and output folders
    (E, "--name="),
    (E, "--name=../../escape"),
    (E, "--name=a/b"),
    (E, "--name=.hidden"),
    (E, "--out="),
    (E, "--out={files}/a_file"),
    (E, "--run-dir={files}/a_file"),
    (E, "--run-dir={files}/a_file/below"),
    (E, "--run-dir=/proc/evorl-run"),
    (E, "--run-dir={run}"),
    # ----- evolve: envs
    (E, "--env.id=NoSuchEnv-v0"),
    (E, "--env.id=nomodule:Env-v0"),
    (E, "--env.id=evorl/NoSuch-v0"),
    (E, "--env.id="),
    (E, "--env.kwargs={gravity: abc}"),
    (E, "--env.kwargs={nope: 1}"),
    (E, "--env.kwargs={1: 2}"),
    (E, "--env.observe=[]"),
    (E, "--env.observe=[9]"),
    (E, "--env.observe=[-9]"),
    (E, "--env.id=evorl/TMaze-v0", "--env.observe=null", "--env.kwargs={corridor_length: -3}"),
    (E, "--env.id=evorl/TMaze-v0", "--env.observe=null", "--env.vectorization=native"),
    # ----- evolve: config files and preset names
    (E, "{files}/missing.yaml"),
    (E, "nope"),
    (E, "{files}/latin1.yaml"),
    (E, "{files}/intkeys.yaml"),
    (E, "{files}/list.yaml"),
    (E, "{files}/malformed.yaml"),
    (E, "{files}/unknown.yaml"),
    (E, "{files}"),
    # ----- evolve: override syntax, flags, init_from, the pole protocol
    (E, "--controller.hidden"),
    (E, "--=3"),
    (E, "--a..b=1"),
    (E, "--workers=0"),
    (E, "--workers=-2"),
    (E, "--workers=two"),
    (E, "--init-from={files}/none"),
    (E, "--init-from={grad}"),
    (E, "--init-from={files}/a_file"),
    (E, "dpnv", "--eval.test_every=5"),
    (E, "cartpole", "--eval.test_every=0", "--eval.pole_protocol=balanced"),
    # ----- resume
    ("resume", "{files}/none"),
    ("resume", "{files}/a_file"),
    ("resume", "{run}", "--optimizer.name=snes"),
    ("resume", "{run}", "--optimizer.popsize=8"),
    ("resume", "{run}", "--controller.hidden=[5]"),
    ("resume", "{run}", "--env.id=Acrobot-v1"),
    ("resume", "{run}", "--seed=5"),
    ("resume", "{run}", "--eval.episodes=7"),
    ("resume", "{run}", "--eval.obs_norm=true"),
    ("resume", "{run}", "--stop.generations=0"),
    ("resume", "{run}", "--nope=1"),
    ("resume", "{run}", "--workers=0"),
    ("resume", "{grad}", "--workers=2"),
    ("resume", "{grad}", "--ppo.lr=0.5"),
    ("resume", "{grad}", "--algo=rpg"),
    ("resume", "{files}/badconfig"),
    ("resume", "{files}/listconfig"),
    ("resume", "{files}/kindconfig"),
    ("resume", "{files}/broken"),
    # ----- eval
    ("eval", "{files}/none"),
    ("eval", "{run}", "--episodes=0"),
    ("eval", "{run}", "--episodes=-1"),
    ("eval", "{run}", "--episodes=abc"),
    ("eval", "{run}", "--seed=-5"),
    ("eval", "{run}", "--video={base}/clip.avi"),
    ("eval", "{run}", "--video={files}"),
    ("eval", "{run}", "--video=/proc/nope/x.gif"),
    ("eval", "{run}", "--checkpoint=middle"),
    ("eval", "{run}", "--pole-tests"),
    ("eval", "{files}/broken"),
    ("eval", "{files}/nometrics"),
    ("eval", "{run}", "--nope=1"),
    # ----- plot
    ("plot", "{files}/none"),
    ("plot", "{files}/nometrics"),
    ("plot", "{files}/broken"),
    ("plot", "{run}", "--out={base}/curve.xyz"),
    ("plot", "{run}", "--out={files}"),
    ("plot", "{run}", "--out=/proc/nope/curve.png"),
    ("plot", "{run}", "--dpi=3"),
    ("plot", "{run}", "{files}/none"),
    ("plot", "{run}", "{files}/broken"),
    ("plot", "{run}", "{grad}", "--out={base}/both.xyz"),
    # ----- --device
    (E, "--eval.device=gpu"),
    (E, "--device", "cuda:x"),
    *([(E, "--device", "cuda")] if not torch.cuda.is_available() else []),
    # ----- --logger
    (E, "--logger", "nope"),
    (E, "--logger", "tensorboard,nope"),
    ("resume", "{run}", "--logger", "csv"),
    (G, "tmaze-10", "--logger", "nope"),
    (F, "xor", "--logger", "tensorboard"),
    # ----- train
    (G, "nope"),
    (G, "tmaze-10", "--nope=1"),
    (G, "tmaze-10", "--algo=a2c"),
    (G, "tmaze-10", "--ppo.bptt=7"),
    (G, "tmaze-10", "--gamma=0"),
    (G, "tmaze-10", "--gamma=1.5"),
    (G, "tmaze-10", "--ppo.lr=0"),
    (G, "tmaze-10", "--ppo.num_envs=0"),
    (G, "tmaze-10", "--stop.env_steps=-1"),
    (G, "tmaze-10", "--stop.iterations=0"),
    (G, "tmaze-10", "--stop.wall_time=0"),
    (G, "tmaze-10", "--name=../x"),
    (G, "tmaze-10", "--init-from={files}/none"),
    (G, "tmaze-10", "--eval.test_every=-1"),
    (G, "tmaze-10", "--policy.value_from=both"),
    (G, "tmaze-10", "--rpg.episodes=0"),
    (G, "tmaze-10", "--ppo.gae_lambda=2"),
    (G, "tmaze-10", "--ppo.minibatches=100000"),
    (G, "tmaze-10", "--run-dir={files}/a_file"),
    (G, "tmaze-10", "--env.id=NoSuch-v0"),
    (G, "tmaze-10", "--controller.kind=xyz"),
    (G, "tmaze-10", "--obs_clip=0"),
    (G, "tmaze-10", "--seed=-1"),
    (G, "tmaze-10", "--kind=evolution"),
    (G, "{files}/malformed.yaml"),
    # ----- fit
    (F, "nope"),
    (F, "xor", "--algo=sgd"),
    (F, "xor", "--lr=0"),
    (F, "xor", "--lr=-1"),
    (F, "xor", "--batch_size=0"),
    (F, "xor", "--window=0"),
    (F, "xor", "--max_sequences=0"),
    (F, "xor", "--eval_every=0"),
    (F, "xor", "--test_size=0"),
    (F, "xor", "--clip=0"),
    (F, "xor", "--sigma=0"),
    (F, "xor", "--algo", "evolution", "--popsize=1"),
    (F, "xor", "--optimizer=rmsprop"),
    (F, "xor", "--rtrl_mode=fast"),
    (F, "xor", "--task.delay=0"),
    (F, "xor", "--task.nope=1"),
    (F, "xor", "--controller", "lstm"),
    (F, "reber", "--teacher_forcing=true"),
    (F, "xor", "--algo", "evolution", "--es=nope"),
    (F, "xor", "--threads=0"),
    (F, "xor", "--plot={base}/curve.xyz"),
    (F, "xor", "--plot={files}"),
    (F, "xor", "--json={files}"),
    (F, "xor", "--run-dir={files}/a_file"),
    (F, "xor", "--nope=1"),
    (F, "xor", "--momentum=2"),
    (F, "xor", "--name=a/b"),
    (F, "xor", "--wall_time=0"),
    # ----- bench (Evolino's time-series benchmark)
    ("bench", "timeseries", "--task", "nope"),
    ("bench", "timeseries", "--seeds", "0"),
    ("bench", "timeseries", "--method", "nope"),
    ("bench", "other"),
    ("bench", "timeseries", "--seed", "abc"),
    # ----- glimpse
    ("glimpse", "train", "nope"),
    ("glimpse", "train", "catch", "--glimpses", "0"),
    ("glimpse", "train", "catch", "--size", "0"),
    ("glimpse", "train", "catch", "--lr", "0"),
    ("glimpse", "train", "catch", "--method", "evolution", "--sigma", "0"),
    ("glimpse", "train", "catch", "--method", "evolution", "--popsize", "0"),
    ("glimpse", "train", "catch", "--method", "evolution", "--generations", "0"),
    ("glimpse", "train", "catch", "--method", "nope"),
    ("glimpse", "train", "catch", "--method", "evolution", "--optimizer", "nope"),
    ("glimpse", "train", "catch", "--threads", "0"),
    ("glimpse", "train", "catch", "--out", "{files}/a_file"),
    ("glimpse", "eval", "{files}/none"),
    ("glimpse", "show", "{files}/none"),
    ("glimpse", "eval", "{run}"),
    ("glimpse", "show", "{run}", "--count", "0"),
    ("glimpse", "frobnicate", "x"),
    # ----- wm (the world model's pipeline)
    ("wm", "collect", "{base}/wm-new", "--preset", "nope"),
    ("wm", "collect", "{base}/wm-new", "--vae.z_dim=abc"),
    ("wm", "collect", "{base}/wm-new", "--collect.policy=smart"),
    ("wm", "collect", "{base}/wm-new", "--collect.episodes=0"),
    ("wm", "collect", "{base}/wm-new", "--vae.epochs=-1"),
    ("wm", "collect", "{base}/wm-new", "--rnn.hidden=0"),
    ("wm", "collect", "{base}/wm-new", "--evolve.popsize=1"),
    ("wm", "collect", "{base}/wm-new", "--evolve.optimizer=nope"),
    ("wm", "collect", "{base}/wm-new", "--nope=1"),
    ("wm", "collect", "{files}/a_file"),
    ("wm", "evolve", "{base}/wm-new", "--temperature", "-1"),
    ("wm", "train-vae", "{base}/wm-new"),
    ("wm", "eval", "{base}/wm-new", "--real"),
    ("wm", "dream", "{base}/wm-new"),
    ("wm", "eval", "{base}/wm-new", "--episodes", "0"),
    ("wm", "frobnicate"),
    ("frobnicate",),
]


def test_the_fuzz_set_covers_every_command():
    commands = {case[0] for case in CASES}
    assert commands >= {E, "resume", "eval", "plot", G, F, "bench", "glimpse", "wm"}
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c)[:60] for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(case, world, tmp_path, monkeypatch, capsys):
    args = [_fill(a, world) for a in case]
    if args[0] == E and (len(args) == 1 or args[1].startswith("--")):
        args.insert(1, "cartpole-novel")  # a preset, then the bad override
    monkeypatch.chdir(tmp_path)
    watched = [tmp_path, world["run"], world["grad"], world["files"]]
    before = [_tree(folder) for folder in watched]
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (args, err)
    assert len(lines) == 1, (args, err)
    assert "Traceback" not in err and lines[0].startswith(("evorl", "usage")), lines
    assert [_tree(folder) for folder in watched] == before, "a refused command wrote files"
