"""A step with a non-finite loss or gradient norm is skipped (no update, counted); N in a row stop the run with
rc != 0 naming the step; non-finite weights are never saved."""

import json
import math

import pytest
import torch

from trainer import checkpoint
from trainer.config import load_config
from trainer.loop import NonFiniteError, Trainer
from trainer.train import main


def overrides(**kw):
    return {"train.steps": 5, "save.every": 1, "save.keep_latest": 0, "train.log_every": 100, **kw}


def poison(trainer, steps: set[int], where: str) -> None:
    """The forward-backward of the given (1-based) steps gives a NaN loss, or NaN gradients."""
    original = trainer.forward_backward

    def forward_backward(inputs, labels, n_global, *rest):
        if trainer.step + 1 not in steps:
            return original(inputs, labels, n_global, *rest)
        if where == "loss":
            return original(inputs, labels, n_global, *rest) * math.nan
        return original(inputs, labels, n_global * math.nan, *rest)  # the backward pass scales by 1 / n_global

    trainer.forward_backward = forward_backward


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("where", ["loss", "grad"])
def test_one_nonfinite_step_is_skipped_and_counted(shard_dir, tmp_path, where):
    trainer = Trainer(load_config("tiny", overrides()), shard_dir, tmp_path / "run")
    poison(trainer, {3}, where)
    snapshots = {}
    trainer.on_step_end = lambda step, m: snapshots.__setitem__(step, weights(trainer.model))
    history = trainer.train()
    assert [m["skipped"] for m in history] == [False, False, True, False, False]
    assert [m["skipped_steps"] for m in history] == [0, 0, 1, 1, 1]
    for key, value in snapshots[2].items():  # no optimizer update, no routing-bias update
        assert torch.equal(snapshots[3][key], value), key
    assert not torch.equal(snapshots[4]["output.weight"], snapshots[3]["output.weight"])
    state = checkpoint.read_trainer_state(tmp_path / "run" / "checkpoints" / "step-00000005")
    assert state["skipped_steps"] == 1


def test_nonfinite_steps_in_a_row_stop_the_run_naming_the_step(shard_dir, tmp_path):
    trainer = Trainer(load_config("tiny", overrides(**{"train.max_nonfinite_steps": 2})), shard_dir, tmp_path / "run")
    poison(trainer, {2, 3, 4, 5}, "grad")
    with pytest.raises(NonFiniteError, match=r"^step 3: .*2 steps in a row .*weights are those of step 1"):
        trainer.train()
    for name in checkpoint.complete_states(tmp_path / "run" / "checkpoints"):
        model = load_config("tiny", {"model.vocab_size": 512}).model.build("cpu")
        checkpoint.load_model_weights(tmp_path / "run" / "checkpoints" / name, model)
        assert all(torch.isfinite(v).all() for v in model.state_dict().values()), name


def test_nonfinite_weights_are_never_saved(shard_dir, tmp_path):
    trainer = Trainer(load_config("tiny", overrides()), shard_dir, tmp_path / "run")

    def break_a_weight(step, metrics):
        if step == 2:
            with torch.no_grad():
                trainer.model.norm.weight[0] = math.inf

    trainer.on_step_end = break_a_weight
    with pytest.raises(NonFiniteError, match=r"^step 3: norm.weight is not finite; not saved"):
        trainer.train()
    assert checkpoint.complete_states(tmp_path / "run" / "checkpoints") == ["step-00000001", "step-00000002"]


def test_a_diverging_run_exits_nonzero_naming_the_step(shard_dir, tmp_path, capsys):
    """A finite but absurd learning rate: the first update blows the weights up, later gradients overflow."""
    args = ["--data", str(shard_dir), "--config", "tiny", "--out", str(tmp_path / "run"), "--steps", "8",
            "--set", "optim.lr=1e30", "--set", "optim.warmup_steps=0", "--set", "save.every=1"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sluice train: error: step 4: ") and "3 steps in a row" in err[-1], err
    lines = [json.loads(ln, parse_constant=pytest.fail) for ln in  # strict JSON: no NaN tokens
             (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["skipped"] for m in lines] == [False, True, True, True]
    assert [m["grad_norm"] for m in lines][1:] == [None, None, None]
