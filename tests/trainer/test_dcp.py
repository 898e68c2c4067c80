"""Sharded saves (DCP) on gloo: a 4-rank run (dp_shard 2 x ep 2) killed after a save resumes to the same loss
sequence bitwise; its step-2 state loads with ep 1 on 4 ranks and with ep 2 on 2 ranks (dp_shard 1, two data
streams per rank) with exactly the saved weights, and training goes on with the same batches. Two process groups
(4 and 2 ranks); the pure parts (completeness, purging) are tested in-process."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.trainer.multiprocess import run_on_ranks
from trainer import checkpoint
from trainer.config import load_config
from trainer.loop import Trainer, train

STEPS = 4


class Killed(Exception):
    pass


def overrides(**kw) -> dict:
    return {"train.steps": STEPS, "train.log_every": 100, "save.every": 2, "save.keep_latest": 0,
            "parallel.ep": 2, **kw}


def summary(history: list[dict]) -> list[dict]:
    return [{k: m[k] for k in ("step", "loss", "grad_norm", "tokens", "batch_shape")} for m in history]


def _resume_on_layout(rank: int, shard_dir: str, saved_run: str, out: str, name: str, **kw) -> None:
    """Copies the saved step 2 into a fresh run directory, resumes it on this layout, writes the weights right
    after loading (rank 0, gathered) and the history of the remaining steps."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    run = f"{out}/{name}"
    if rank == 0:
        shutil.copytree(f"{saved_run}/checkpoints/step-00000002", f"{run}/checkpoints/step-00000002")
    dist.barrier()
    trainer = Trainer(load_config("tiny", overrides(**kw)), shard_dir, run, resume=True)
    full = get_model_state_dict(trainer.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:
        torch.save(full, f"{out}/{name}-weights.pt")
    history = trainer.train()
    if rank == 0:
        with open(f"{out}/{name}.json", "w") as f:
            json.dump(summary(history), f)


def _four_ranks(rank: int, world: int, shard_dir: str, out: str) -> None:
    cfg = load_config("tiny", overrides())
    history = train(cfg, shard_dir, f"{out}/a")

    def crash_at_step_3(step, metrics):
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, shard_dir, f"{out}/b", on_step_end=crash_at_step_3)
    resumed = train(cfg, shard_dir, f"{out}/b", resume=True)
    if rank == 0:
        with open(f"{out}/a.json", "w") as f:
            json.dump(summary(history), f)
        with open(f"{out}/b.json", "w") as f:
            json.dump(summary(resumed), f)
    _resume_on_layout(rank, shard_dir, f"{out}/a", out, "ep1", **{"parallel.ep": 1})


def _two_ranks(rank: int, world: int, shard_dir: str, out: str) -> None:
    import torch.distributed as dist

    from pipeline.config import ConfigError

    _resume_on_layout(rank, shard_dir, f"{out}/a", out, "two_ranks")
    with pytest.raises(ConfigError, match="3 data streams do not split evenly over 2 ranks"):
        Trainer(load_config("tiny", overrides(**{"parallel.data_streams": 3})), shard_dir, f"{out}/streams")
    # the newest save damaged in a file only rank 1 hashes (ranks share the check): both skip it for step 2
    run = Path(out) / "damaged"
    if rank == 0:
        shutil.copytree(f"{out}/a/checkpoints", run / "checkpoints")
        state = run / "checkpoints" / "step-00000004"
        victim = state / sorted(json.loads((state / "digests.json").read_text())["files"])[1]
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x10
        victim.write_bytes(bytes(data))
    dist.barrier()
    trainer = Trainer(load_config("tiny", overrides()), shard_dir, run, resume=True)
    if rank == 0:
        (Path(out) / "damaged.json").write_text(json.dumps({"step": trainer.step, "victim": victim.name}))


@pytest.fixture(scope="module")
def results(shard_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("dcp")
    run_on_ranks(4, _four_ranks, str(shard_dir), str(out))
    run_on_ranks(2, _two_ranks, str(shard_dir), str(out))
    return out


def losses_of(run_dir) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_resume_at_the_same_layout_is_bitwise(results):
    a = json.loads((results / "a.json").read_text())
    b = json.loads((results / "b.json").read_text())
    assert [m["step"] for m in b] == [3, 4]  # resumed from the step-2 save
    assert b == a[2:]  # exact float equality of losses and gradient norms
    assert losses_of(results / "b") == [m["loss"] for m in a]


@pytest.mark.parametrize("layout", ["ep1", "two_ranks"])
def test_another_layout_loads_the_same_weights_and_continues_the_same_data(results, layout):
    from trainer.model import ModelConfig  # noqa: F401  (the config's model section builds it)

    saved = results / "a" / "checkpoints" / "step-00000002"
    model = load_config("tiny", {"model.vocab_size": 512}).model.build("cpu")
    checkpoint.load_model_weights(saved, model)  # one process, no process group: the 4-rank save as a plain model
    loaded = torch.load(results / f"{layout}-weights.pt", weights_only=True)
    expected = model.state_dict()
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    a = json.loads((results / "a.json").read_text())[2:]
    got = json.loads((results / f"{layout}.json").read_text())
    assert [m["tokens"] for m in got] == [m["tokens"] for m in a]  # the same batches, in the same order
    assert [m["loss"] for m in got] == pytest.approx([m["loss"] for m in a], rel=1e-5)


def test_a_damaged_save_is_skipped_by_every_rank_alike(results):
    damaged = json.loads((results / "damaged.json").read_text())
    assert damaged["step"] == 2, damaged


def test_save_state_layout_and_completeness(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, model, opt, {"step": step}, {"rank": 0}, keep_latest=2)
    assert checkpoint.complete_states(tmp_path) == ["step-00000002", "step-00000003"]
    assert checkpoint.latest(tmp_path).name == "step-00000003"
    # a save killed half-way leaves a temporary directory (never listed, removed on the next start); a directory
    # without digests.json (written last) is not complete; one that lost a file is damaged, and skipped
    (tmp_path / ".tmp-step-00000009").mkdir()
    shutil.copytree(tmp_path / "step-00000003", tmp_path / "step-00000005")
    (tmp_path / "step-00000005" / "digests.json").unlink()
    assert checkpoint.latest(tmp_path).name == "step-00000003"
    shutil.copytree(tmp_path / "step-00000003", tmp_path / "step-00000004")
    (tmp_path / "step-00000004" / "trainer.json").unlink()
    assert checkpoint.latest(tmp_path).name == "step-00000004"
    assert checkpoint.newest_intact(tmp_path).name == "step-00000003"  # test_checkpoint_integrity.py: the rest
    checkpoint.clean_stale(tmp_path)
    assert not list(tmp_path.glob(".tmp-*"))
    other = torch.nn.Linear(3, 2)
    other_opt = torch.optim.AdamW(other.parameters())
    checkpoint.load(tmp_path / "step-00000003", other, other_opt)
    assert torch.equal(other.weight, model.weight)
    assert torch.equal(other_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert checkpoint.read_trainer_state(tmp_path / "step-00000003") == {"step": 3}
    assert checkpoint.read_rank_states(tmp_path / "step-00000003") == [{"rank": 0}]
