"""A save that fails on the disk (full, read-only, no permission) is one line and leaves no `.tmp-step-N` behind."""

import errno
import os
import traceback

import pytest
from torch.distributed.checkpoint.api import CheckpointException

from trainer import checkpoint
from trainer.train import io_error
from trainer.train import main as train_main


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_save_is_one_line_and_leaves_no_temporary_directory(shard_dir, tmp_path, monkeypatch, capsys, code):
    real_write = checkpoint._write

    def disk_full(path, data):
        if path.name == checkpoint.TRAINER_FILE:  # after DCP wrote the tensors: the temporary directory is full
            raise OSError(code, os.strerror(code), str(path))
        return real_write(path, data)

    monkeypatch.setattr(checkpoint, "_write", disk_full)
    run = tmp_path / "run"
    args = ["--data", str(shard_dir), "--config", "tiny", "--out", str(run), "--steps", "1",
            "--set", "save.every=1", "--set", "train.log_every=100"]
    assert train_main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err[-1] == (f"sluice train: error: cannot write {run}/checkpoints/.tmp-step-00000001/"
                       f"{checkpoint.TRAINER_FILE}: {os.strerror(code)}")
    assert not any("Traceback" in line for line in err)
    assert not list((run / "checkpoints").glob(".tmp-*")), "a failed save left its temporary directory"
    assert checkpoint.complete_states(run / "checkpoints") == []


def test_the_io_error_behind_a_dcp_failure_is_found():
    full = OSError(errno.ENOSPC, "No space left on device", "/ckpt/.tmp-step-00000001/__0_0.distcp")
    wrapped = CheckpointException("save", {0: (full, traceback.StackSummary())})
    assert io_error(wrapped) is full
    assert io_error(RuntimeError("boom")) is None
    assert io_error(OSError(errno.ENOENT, "gone")) is None  # not a disk problem: the traceback stays
