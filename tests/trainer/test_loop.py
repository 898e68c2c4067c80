import json
from pathlib import Path

import pytest

from trainer.config import load_config
from trainer.loop import train
from trainer.train import main


class Killed(Exception):
    pass


def crash_at(step_to_crash: int):
    """An on_step_end hook that stops the run like a crash (raises Killed) when step `step_to_crash` ends."""

    def on_step_end(step, metrics):
        if step == step_to_crash:
            raise Killed

    return on_step_end


def losses(run_dir) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_model_loss_falls_and_metrics_are_written(shard_dir, tmp_path):
    cfg = load_config("tiny", {"train.steps": 20, "train.log_every": 100})
    history = train(cfg, shard_dir, tmp_path / "run")
    first, last = history[0]["loss"], sum(m["loss"] for m in history[-3:]) / 3
    assert first > 6.0 and last < first - 1.0, (first, last)
    # golden curve: catches unintended changes to the model math, init, data order or optimizer
    golden = json.loads((Path(__file__).parent / "assets" / "tiny_losses.json").read_text())["losses"]
    assert [m["loss"] for m in history] == pytest.approx(golden, abs=2e-3)
    m = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu", "tflops_per_s", "load_imbalance", "mem_bytes",
                "layer_load_imbalance",
                "batch_shape"):
        assert key in m
    assert len({tuple(m["batch_shape"]) for m in history}) > 3  # shapes follow the data
    saved = tmp_path / "run" / "checkpoints" / "step-00000020"
    assert (saved / ".metadata").exists() and (saved / "trainer.json").exists()  # a complete DCP save


def test_resume_after_a_crash_reproduces_the_loss_curve_bitwise(shard_dir, tmp_path):
    overrides = {"train.steps": 10, "save.every": 4, "train.log_every": 100}
    cfg = load_config("tiny", overrides)
    uninterrupted = [m["loss"] for m in train(cfg, shard_dir, tmp_path / "a")]

    with pytest.raises(Killed):
        train(cfg, shard_dir, tmp_path / "b", on_step_end=crash_at(7))
    assert len(losses(tmp_path / "b")) == 7  # steps 5..7 ran after the last save (step 4)
    train(cfg, shard_dir, tmp_path / "b", resume=True)
    assert losses(tmp_path / "b") == uninterrupted  # exact float equality; steps 5..10 recomputed


def test_resume_with_workers_matches_too(shard_dir, tmp_path):
    cfg = load_config("tiny", {"train.steps": 5, "save.every": 3, "data.num_workers": 2, "train.log_every": 100})
    uninterrupted = [m["loss"] for m in train(cfg, shard_dir, tmp_path / "a")]

    with pytest.raises(Killed):
        train(cfg, shard_dir, tmp_path / "b", on_step_end=crash_at(4))
    train(cfg, shard_dir, tmp_path / "b", resume=True)
    assert losses(tmp_path / "b") == uninterrupted


def test_cli_trains_and_reports_user_errors(shard_dir, tmp_path, capsys):
    assert main(["--data", str(shard_dir), "--config", "tiny", "--out", str(tmp_path / "r"), "--steps", "2"]) == 0
    assert len(losses(tmp_path / "r")) == 2
    assert main(["--data", str(shard_dir), "--config", "tiny", "--out", str(tmp_path / "r"), "--steps", "2"]) == 2
    assert "already holds saved training states" in capsys.readouterr().err

    assert main(["--data", str(tmp_path / "missing"), "--config", "tiny", "--out", str(tmp_path / "x")]) == 2
    assert "missing does not exist" in capsys.readouterr().err

    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 1.0\n")
    assert main(["--data", str(shard_dir), "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "unknown key 'optim.learning_rate'" in capsys.readouterr().err

    assert main(["--data", str(shard_dir), "--config", "tiny", "--out", str(tmp_path / "empty"), "--resume"]) == 2
    assert "no complete saved state" in capsys.readouterr().err


def test_torchrun_with_two_cpu_ranks_trains_and_saves_every_rank_position(shard_dir, tmp_path):
    import os
    import subprocess
    import sys

    from trainer.checkpoint import read_rank_states

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "trainer.train",
           "--data", str(shard_dir), "--config", "tiny", "--out", str(out), "--steps", "2"]
    subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[2], capture_output=True, timeout=300,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    ranks = read_rank_states(out / "checkpoints" / "step-00000002")
    assert [r["data"][str(r["rank"])]["rank"] for r in ranks] == [0, 1]  # each rank saves its own data position
    assert len(losses(out)) == 2
