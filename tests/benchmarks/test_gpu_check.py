"""The GPU script's CPU size: any schema or API change that would break the script on a lent GPU fails here."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("pyarrow")


def test_gpu_check_cpu_smoke_runs_every_section(tmp_path):
    import torch

    from benchmarks import gpu_check

    torch.set_num_threads(1)
    out = tmp_path / "gpu_check.json"
    rc = gpu_check.main(["--cpu-smoke", "--out", str(out), "--only", "experts", "--only", "throughput",
                         "--only", "recompute"])
    result = json.loads(out.read_text())
    errors = {k: v.get("error") for k, v in result["sections"].items() if "error" in v}
    assert not errors and rc == 0, errors
    assert {"name", "machine", "date", "ours", "reference", "ratio", "unit", "params", "device"} <= result.keys()
    assert result["sections"]["experts"]["result"]["ok"]
    tp = result["sections"]["throughput"]["result"]
    assert tp["grouped"]["steps"] >= 1 and tp["grouped"]["tokens_per_s"] > 0 and tp["loop"]["tokens_per_s"] > 0
    modes = result["sections"]["recompute"]["result"]["modes"]
    assert set(modes) == {"none", "full", "static", "mimose"}
    assert all(m["ooms"] == 0 for m in modes.values())
    assert modes["mimose"]["planner"]["collect_steps"] >= 1


def test_an_out_of_memory_step_is_counted_and_the_run_goes_on(tmp_path, monkeypatch):
    import torch

    from benchmarks import gpu_check
    from benchmarks.synthetic_shards import write_synthetic_shards

    torch.set_num_threads(1)
    size = gpu_check.SIZES["cpu"]
    data = write_synthetic_shards(tmp_path / "shards", [size.seq + 1] * 32, 256)
    trainer = gpu_check.make_trainer(size, data, tmp_path / "run", {"recompute.mode": "mimose",
                                                                      "recompute.budget": 1e9}, balance=False)
    real, calls = trainer.train_step, []

    def second_step_runs_out_of_memory(batches):
        calls.append(1)
        if len(calls) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(batches)

    monkeypatch.setattr(trainer, "train_step", second_step_runs_out_of_memory)
    history = gpu_check.run_steps(trainer, 3)
    assert [bool(m.get("oom")) for m in history] == [False, True, False]
    assert history[2]["loss"] > 0
