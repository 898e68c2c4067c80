"""A saved state is data, not code, and a damaged one is never used: crafted pickles run nothing, flipped bytes,
truncated files and tampered JSON are caught on resume and on export (the newest intact save is used, with a
warning naming the damaged one), and with nothing intact left the error is one line."""

import io
import json
import os
import pickle
import shutil

import pytest
import torch

from trainer import checkpoint
from trainer.config import load_config
from trainer.export import load_run
from trainer.export import main as export_main
from trainer.loop import Trainer, train
from trainer.saved_files import digest_file, digests_json
from trainer.train import main as train_main

OVERRIDES = {"train.steps": 2, "save.every": 1, "save.keep_latest": 0, "train.log_every": 100}


@pytest.fixture(scope="module")
def saved_run(shard_dir, tmp_path_factory):
    """A tiny run with saved states at steps 1 and 2."""
    run = tmp_path_factory.mktemp("saved") / "run"
    train(load_config("tiny", OVERRIDES), shard_dir, run)
    return run


@pytest.fixture
def run(saved_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(saved_run, copy)
    return copy


def newest(run_dir):
    return run_dir / "checkpoints" / "step-00000002"


def redigest(state_dir):
    """What someone who edits a save can do: make digests.json agree with the edited files."""
    files = {p.name: digest_file(p) for p in sorted(state_dir.iterdir()) if p.name != "digests.json"}
    (state_dir / "digests.json").write_bytes(digests_json(int(state_dir.name.split("-")[1]), files))


class WritesMarker:
    """Unpickling this runs a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def resumed_step(shard_dir, run_dir, capsys) -> int:
    trainer = Trainer(load_config("tiny", OVERRIDES), shard_dir, run_dir, resume=True)
    return trainer.step


def assert_skipped(capsys, damaged_name: str) -> None:
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "damaged, skipped" in ln]
    assert len(warnings) == 1 and "step-00000002" in warnings[0] and damaged_name in warnings[0], err


@pytest.mark.parametrize("redigested", [False, True])
def test_a_crafted_metadata_pickle_runs_nothing_and_the_previous_save_is_used(shard_dir, run, tmp_path, capsys,
                                                                               redigested):
    marker = tmp_path / "owned"
    (newest(run) / ".metadata").write_bytes(pickle.dumps(WritesMarker(marker)))
    if redigested:
        redigest(newest(run))
    assert resumed_step(shard_dir, run, capsys) == 1
    assert_skipped(capsys, ".metadata")
    assert load_run(run)[1] is not None  # export: the step-1 weights
    assert_skipped(capsys, ".metadata")
    assert export_main([str(run), str(tmp_path / "hf"), "--state", str(newest(run))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ".metadata" in err, err
    if redigested:
        assert "refused to build posix.system" in err or "refused to build os.system" in err, err
    # the crafted save alone: --resume is one error line, rc 2
    shutil.rmtree(run / "checkpoints" / "step-00000001")
    args = ["--data", str(shard_dir), "--config", "tiny", "--out", str(run), "--resume", "--steps", "3"]
    assert train_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sluice train: error: no intact saved state") and ".metadata" in err[-1], err
    assert not marker.exists()


def test_a_crafted_non_tensor_item_runs_nothing(shard_dir, run, tmp_path, capsys):
    """The optimizer's lr is a torch.save'd item that DCP's own planner loads with weights_only=False."""
    marker = tmp_path / "owned"
    state = newest(run)
    md = pickle.loads((state / ".metadata").read_bytes())  # our own save: plain pickle is fine in a test
    payload = io.BytesIO()
    torch.save(WritesMarker(marker), payload)
    distcp = state / "__0_0.distcp"
    offset = distcp.stat().st_size
    with open(distcp, "ab") as f:
        f.write(payload.getvalue())
    key = next(k for k in md.storage_data if k.fqn == "optimizer.param_groups.0.lr")
    md.storage_data[key].offset, md.storage_data[key].length = offset, len(payload.getvalue())
    (state / ".metadata").write_bytes(pickle.dumps(md))
    redigest(state)
    assert resumed_step(shard_dir, run, capsys) == 1
    assert_skipped(capsys, "optimizer.param_groups.0.lr")
    assert not marker.exists()


@pytest.mark.parametrize("name", [".metadata", "__0_0.distcp", "trainer.json", "rank-00000.json", "digests.json"])
def test_a_flipped_byte_in_any_saved_file_is_caught_on_resume_and_export(shard_dir, run, capsys, name):
    path = newest(run) / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert resumed_step(shard_dir, run, capsys) == 1
    assert_skipped(capsys, name if name != "digests.json" else "step-00000002")
    load_run(run)
    assert_skipped(capsys, name if name != "digests.json" else "step-00000002")


def test_every_single_bit_flip_in_the_small_files_is_caught(run):
    state = newest(run)
    for name in ("digests.json", "trainer.json", "rank-00000.json"):
        path = state / name
        original = path.read_bytes()
        for i in range(0, len(original), max(1, len(original) // 31)):
            for bit in (0x01, 0x40):
                data = bytearray(original)
                data[i] ^= bit
                path.write_bytes(bytes(data))
                assert checkpoint.check_state(state) is not None, (name, i, bit)
        path.write_bytes(original)
    assert checkpoint.check_state(state) is None


def test_a_file_added_to_a_save_that_resume_would_read_is_caught(run):
    state = newest(run)
    shutil.copyfile(state / "rank-00000.json", state / "rank-00001.json")
    assert "rank-00001.json: not listed in digests.json" in checkpoint.check_state(state)


def test_a_truncated_distcp_is_caught_on_resume_and_export(shard_dir, run, tmp_path, capsys):
    path = newest(run) / "__0_0.distcp"
    path.write_bytes(path.read_bytes()[:-100])
    assert resumed_step(shard_dir, run, capsys) == 1
    assert_skipped(capsys, "truncated")
    assert export_main([str(run), str(tmp_path / "hf"), "--state", str(newest(run)), "--dtype", "float32"]) == 2
    assert "truncated" in capsys.readouterr().err


@pytest.mark.parametrize("name,edit,expected", [
    ("trainer.json", lambda d: "{not json", "not valid JSON"),
    ("trainer.json", lambda d: json.dumps({k: v for k, v in d.items() if k != "schedule"}), "schedule is missing"),
    ("trainer.json", lambda d: json.dumps({**d, "tokens_seen": "many"}), "tokens_seen is \"many\""),
    ("trainer.json", lambda d: json.dumps({**d, "step": 1_000_000_000}), "says step 1000000000"),
    ("trainer.json", lambda d: "[1, 2]", "not a JSON object"),
    ("rank-00000.json", lambda d: json.dumps({**d, "data": {"0": {"states": 3}}}), "data.0.states is 3"),
    ("rank-00000.json", lambda d: json.dumps({k: v for k, v in d.items() if k != "rng"}), "rng is missing"),
    ("rank-00000.json", lambda d: b"\xff\xfe".decode("latin-1"), "not valid JSON"),
])
def test_tampered_json_is_one_line_and_the_previous_save_is_used(shard_dir, run, tmp_path, capsys, name, edit,
                                                                 expected):
    path = newest(run) / name
    path.write_text(edit(json.loads(path.read_text())))
    redigest(newest(run))
    assert resumed_step(shard_dir, run, capsys) == 1
    assert_skipped(capsys, expected)
    # with no intact state left, --resume is one line and rc 2
    shutil.rmtree(run / "checkpoints" / "step-00000001")
    args = ["--data", str(shard_dir), "--config", "tiny", "--out", str(run), "--resume", "--steps", "3"]
    assert train_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sluice train: error: no intact saved state") and expected in err[-1], err
    assert len([ln for ln in err if "Traceback" in ln]) == 0
