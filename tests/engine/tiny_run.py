"""A tiny synthetic video dataset, a tiny two-stream model and a training script around `fit`.

Imported by the tests, and run as a script (plain python or torchrun) by the kill/resume and
distributed tests: ``python tiny_run.py --out DIR [--kill-at-sample N] [--resume CKPT]``.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from zoo.engine.train import collate  # noqa: E402
from zoo.engine import TrainConfig, fit, seed_everything  # noqa: E402
from zoo.engine import distributed as dist_utils  # noqa: E402
from zoo.specs import InputSpec, ModelSpec  # noqa: E402

CLASSES = ["a", "b", "c", "d"]
SCRIPT = str(Path(__file__).resolve())


class TinyVideos(Dataset):
    """`size` clips of two streams whose mean colour encodes the class; fixed by `seed`.
    ``multi_label=True`` gives multi-hot float labels; `kill_at_sample` SIGKILLs the process
    on that many-th read (a crash in the middle of an epoch); `unreadable` indices and the first
    `unreadable_reads` reads give None."""

    def __init__(self, size=32, seed=0, multi_label=False, unreadable=(), kill_at_sample=None,
                 unreadable_reads=0):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, len(CLASSES), (size,), generator=g)
        self.rgb = torch.randn(size, 3, 2, 4, 4, generator=g) + self.labels.view(-1, 1, 1, 1, 1)
        self.flow = torch.randn(size, 2, 2, 4, 4, generator=g) - self.labels.view(-1, 1, 1, 1, 1)
        self.classes, self.multi_label = CLASSES, multi_label
        self.unreadable, self.kill_at_sample, self.reads = set(unreadable), kill_at_sample, 0
        self.unreadable_reads = unreadable_reads

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        self.reads += 1
        if self.reads == self.kill_at_sample:
            os.kill(os.getpid(), signal.SIGKILL)
        if i in self.unreadable or self.reads <= self.unreadable_reads:
            return None
        label = self.labels[i]
        if self.multi_label:
            label = nn.functional.one_hot(label, len(CLASSES)).float()
            label[(label.argmax() + 1) % len(CLASSES)] = float(i % 2)
        else:
            label = int(label)
        return {"inputs": {"rgb": self.rgb[i], "flow": self.flow[i]}, "label": label,
                "video": f"clip{i}.mp4"}


class Stream(nn.Module):
    def __init__(self, channels, num_classes, dropout=0.0):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv3d(channels, 6, 1), nn.ReLU(),
                                      nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(6, num_classes))

    def forward(self, x):
        return self.head(self.backbone(x))


class WeightedFusion(nn.Module):
    """Learned late fusion: a softmax-weighted average of the streams' logits."""

    def __init__(self, streams):
        super().__init__()
        self.streams = list(streams)
        self.weights = nn.Parameter(torch.zeros(len(self.streams)))

    def forward(self, logits):
        w = self.weights.softmax(0)
        return sum(w[i] * logits[s] for i, s in enumerate(self.streams))


class TinyTwoStream(nn.Module):
    def __init__(self, num_classes=len(CLASSES), dropout=0.0):
        super().__init__()
        self.streams = nn.ModuleDict({"rgb": Stream(3, num_classes, dropout),
                                      "flow": Stream(2, num_classes, dropout)})
        self.fusion = WeightedFusion(self.streams)
        self.config = {"name": "tiny_two_stream", "num_classes": num_classes}
        self.spec = ModelSpec({"rgb": InputSpec(frames=2, size=4),
                               "flow": InputSpec("flow", frames=2, size=4)}, num_classes)

    def forward(self, inputs):
        return self.fusion({s: m(inputs[s]) for s, m in self.streams.items()})


def run(out, epochs=3, resume=None, kill_at_sample=None, dropout=0.0, momentum=0.9,
        fusion_epochs=0, size=32, blind_rank=None, blind_reads=0):
    """Train the tiny model; returns (history, model). The process of rank `blind_rank` reads
    None for its first `blind_reads` training samples and for every validation sample."""
    torch.set_num_threads(1)
    device = dist_utils.setup("cpu")
    seed_everything(0)
    model = TinyTwoStream(dropout=dropout)
    config = TrainConfig(epochs=epochs, batch_size=8, lr=0.3, momentum=momentum,
                         warmup_epochs=1, out_dir=str(out), resume=resume, progress=False,
                         fusion_epochs=fusion_epochs, device=str(device),
                         bf16=False)  # runs are compared to 1e-5: no bf16 even where native
    blind = dist_utils.rank() == blind_rank
    train = TinyVideos(size, seed=1, kill_at_sample=kill_at_sample,
                       unreadable_reads=blind_reads if blind else 0)
    val = TinyVideos(20, seed=2, unreadable=range(20) if blind else ())
    train_loader = dist_utils.make_loader(train, config.batch_size, train=True, seed=config.seed,
                                          collate_fn=collate)
    val_loader = dist_utils.make_loader(val, config.batch_size, train=False, collate_fn=collate)
    return fit(model, train_loader, val_loader, config), model


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--resume")
    parser.add_argument("--kill-at-sample", type=int)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--fusion-epochs", type=int, default=0)
    parser.add_argument("--blind-rank", type=int)
    parser.add_argument("--blind-reads", type=int, default=0)
    args = parser.parse_args()
    with dist_utils.process_group("cpu"):
        run(args.out, args.epochs, args.resume, args.kill_at_sample, args.dropout, args.momentum,
            args.fusion_epochs, blind_rank=args.blind_rank, blind_reads=args.blind_reads)
