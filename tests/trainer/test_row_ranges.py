"""A corpus of one row group on 4 gloo ranks: the ranks read row ranges of it (not whole row groups, which would
leave three ranks without data), and the step-2 save resumed on 2 ranks continues with the same batches."""

import json
import shutil

import pytest

from tests.trainer.conftest import pattern_docs, write_shards
from tests.trainer.multiprocess import run_on_ranks

STEPS = 4


def overrides() -> dict:
    return {"train.steps": STEPS, "train.log_every": 100, "save.every": 2, "save.keep_latest": 0}


def summary(history: list[dict]) -> list[dict]:
    return [{k: m[k] for k in ("step", "loss", "tokens")} for m in history]


def _four_ranks(rank: int, world: int, data: str, out: str) -> None:
    from trainer.config import load_config
    from trainer.loop import train

    history = train(load_config("tiny", overrides()), data, f"{out}/a")
    if rank == 0:
        with open(f"{out}/a.json", "w") as f:
            json.dump(summary(history), f)


def _two_ranks(rank: int, world: int, data: str, out: str) -> None:
    import torch.distributed as dist

    from trainer.config import load_config
    from trainer.loop import Trainer

    if rank == 0:
        shutil.copytree(f"{out}/a/checkpoints/step-00000002", f"{out}/b/checkpoints/step-00000002")
    dist.barrier()
    history = Trainer(load_config("tiny", overrides()), data, f"{out}/b", resume=True).train()
    if rank == 0:
        with open(f"{out}/b.json", "w") as f:
            json.dump(summary(history), f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("row_ranges")
    data = write_shards(out / "shards", pattern_docs(200, seed=11), n_shards=1, row_group_size=10_000)
    assert len(json.loads((data / "manifest.json").read_text())["shards"][0]["row_groups"]) == 1
    run_on_ranks(4, _four_ranks, str(data), str(out))
    run_on_ranks(2, _two_ranks, str(data), str(out))
    return [json.loads((out / f"{name}.json").read_text()) for name in ("a", "b")]


def test_one_row_group_trains_on_four_ranks_and_resumes_on_two(runs):
    four, two = runs
    assert [m["step"] for m in four] == [1, 2, 3, 4] and [m["step"] for m in two] == [3, 4]
    assert [m["tokens"] for m in two] == [m["tokens"] for m in four[2:]]  # the global batch: same real tokens
    assert [m["loss"] for m in two] == pytest.approx([m["loss"] for m in four[2:]], rel=1e-5)
