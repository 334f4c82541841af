"""Two CPU processes under torchrun train the same model as one process (same global batch)."""
import os
import subprocess
import sys

import pytest
import torch

from tiny_run import SCRIPT, TinyTwoStream, run
from zoo.engine import distributed, load_checkpoint

# a process that aborts in C++ (gloo) prints every thread's Python stack
ENV = {**os.environ, "PYTHONFAULTHANDLER": "1"}


def test_two_processes_match_one(tmp_path):
    epochs = 3
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--standalone", SCRIPT, "--out", str(tmp_path / "ddp"), "--epochs", str(epochs),
               "--momentum", "0"]
    ddp = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=ENV)
    try:
        history, one = run(tmp_path / "single", epochs, momentum=0.0)  # meanwhile, one process
        _, stderr = ddp.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        ddp.kill()
        pytest.fail("torchrun with 2 processes did not finish in 180 s")
    finally:
        if ddp.poll() is None:
            ddp.kill()
    assert ddp.returncode == 0, stderr[-3000:]
    two = load_checkpoint(tmp_path / "ddp" / "last.pt")

    assert len(two["history"]) == epochs
    for a, b in zip(two["history"], history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-5)
        assert a["val_top1"] == b["val_top1"]
    ddp_model = TinyTwoStream()
    ddp_model.load_state_dict(two["model"])
    for (name, x), y in zip(one.state_dict().items(), ddp_model.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-5, msg=name)


def test_a_process_with_an_empty_batch_keeps_step_with_the_others(tmp_path):
    """Rank 1 reads nothing in its first batch and nothing at all in validation: both processes
    still take the same steps (no hang), and every skipped clip is counted."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--standalone", SCRIPT, "--out", str(tmp_path), "--epochs", "2",
               "--blind-rank", "1", "--blind-reads", "4"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=ENV)
    except subprocess.TimeoutExpired:
        pytest.fail("torchrun with an empty batch on one process did not finish in 180 s")
    assert done.returncode == 0, done.stderr[-3000:]
    history = load_checkpoint(tmp_path / "last.pt")["history"]
    assert [r["skipped_clips"] for r in history] == [4, 0]
    assert [r["val_skipped_clips"] for r in history] == [10, 10]
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)
    assert "4 skipped" in done.stderr and "10 skipped" in done.stderr


def test_gather_rows_of_no_process_is_none():
    assert distributed.all_gather_rows(None) is None
    assert distributed.all_gather_objects({"a": 1}) == [{"a": 1}]


def test_shard_sampler_covers_every_index_once():
    shards = [list(distributed.ShardSampler(11, num_replicas=3, rank_=r)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(11))
    assert [len(distributed.ShardSampler(11, 3, r)) for r in range(3)] == [4, 4, 3]


def test_single_process_helpers_are_identities():
    rows = torch.arange(6).view(3, 2)
    assert distributed.world_size() == 1 and distributed.is_main_process()
    assert torch.equal(distributed.all_gather_rows(rows), rows)
    assert torch.equal(distributed.all_reduce_sum(rows), rows)


def test_process_group_of_one_process_gives_the_device_and_passes_errors_on():
    with distributed.process_group("cpu") as device:
        assert device == torch.device("cpu") and not distributed.is_distributed()
    with pytest.raises(ValueError, match="inside"):
        with distributed.process_group("cpu"):
            raise ValueError("inside")
