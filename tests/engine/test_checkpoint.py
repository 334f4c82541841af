"""Checkpoints: atomic writes, weights-only loading, RNG round trip, clear errors on bad files."""
import random

import numpy as np
import pytest
import torch

from tiny_run import TinyTwoStream, run
from zoo.engine.checkpoint import (CheckpointError, atomic_write, load_checkpoint,
                                   load_model_weights, load_weights, restore, rng_state,
                                   save_checkpoint, save_weights, set_rng_state)
from zoo.errors import ZooError


def test_round_trip_restores_model_optimizer_scheduler(tmp_path):
    model = TinyTwoStream()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    model(dict(rgb=torch.randn(2, 3, 2, 4, 4), flow=torch.randn(2, 2, 2, 4, 4))).sum().backward()
    optimizer.step()
    scheduler.step()
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, scheduler, epoch=3,
                           history=[{"a": 1.0}])

    fresh = TinyTwoStream()
    fresh_optimizer = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    fresh_scheduler = torch.optim.lr_scheduler.StepLR(fresh_optimizer, 1, gamma=0.5)
    state = load_checkpoint(path)
    assert restore(state, fresh, fresh_optimizer, fresh_scheduler) == 3
    assert state["config"] == model.config and state["history"] == [{"a": 1.0}]
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    momentum = [s["momentum_buffer"] for s in fresh_optimizer.state.values()]
    assert len(momentum) == len(list(model.parameters()))


def test_rng_state_round_trip():
    state = rng_state()
    drawn = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(drawn[0], again[0]) and np.array_equal(drawn[1], again[1])
    assert drawn[2] == again[2]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "c.pt"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize("damage", ["truncated", "zero bytes", "random bytes"])
def test_damaged_checkpoint_names_the_file(tmp_path, damage):
    path = save_checkpoint(tmp_path / "epoch3.pt", TinyTwoStream(), epoch=3)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "zero bytes": b"",
                      "random bytes": np.random.default_rng(0).bytes(500)}[damage])
    with pytest.raises(CheckpointError, match="epoch3.pt") as info:
        load_checkpoint(path)
    assert isinstance(info.value, ZooError)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="nothere.pt.*does not exist"):
        load_checkpoint(tmp_path / "nothere.pt")


class Payload:
    def __reduce__(self):
        return (print, ("this must not run",))


def test_a_checkpoint_cannot_run_code(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)
    assert "must not run" not in capsys.readouterr().out


def test_safetensors_weights_with_config(tmp_path):
    model = TinyTwoStream()
    path = save_weights(tmp_path / "w.safetensors", model)
    fresh = TinyTwoStream()
    state = load_model_weights(fresh, path)
    assert state["config"] == model.config
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="w.safetensors"):
        load_weights(path)


def test_weights_that_do_not_fit_the_model(tmp_path):
    path = save_weights(tmp_path / "w.safetensors", TinyTwoStream(num_classes=7))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model_weights(TinyTwoStream(num_classes=4), path)


def test_resuming_from_a_file_that_is_not_a_zoo_checkpoint(tmp_path):
    """A .pt with a ``model`` key written by another program fails naming what it holds."""
    path = tmp_path / "other.pt"
    torch.save({"model": {"w": torch.zeros(3)}, "step": 7}, path)
    with pytest.raises(CheckpointError) as err:
        run(tmp_path / "out", epochs=1, resume=str(path))
    message = str(err.value)
    assert message.startswith(f"{str(path)!r} is not a zoo checkpoint: it holds 'model', 'step'")
    assert f"--set weights={path}" in message


def test_resuming_a_zoo_checkpoint_of_another_model_names_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", torch.nn.Linear(2, 2), epoch=1)
    with pytest.raises(CheckpointError, match=f"the weights in {str(path)!r} do not fit this "
                                              f"model: Error"):
        run(tmp_path / "out", epochs=2, resume=str(path))
