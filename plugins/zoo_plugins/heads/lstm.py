"""``lstm``: an LSTM over per-frame features (LRCN, Donahue et al. 2015).

Clips of different lengths in one batch: pass ``lengths`` (a ``[B]`` tensor of valid frame counts;
frames beyond are padding) to ``forward`` -- in a model input dict it is the key ``"lengths"``. The
sequences are packed, so a clip's prediction does not depend on the padding or on its batch.
With ``fc6`` > 0 each frame's flattened map first goes through a fully connected layer (ReLU)
of that size: LRCN feeds CaffeNet's fc6 (4096) to an LSTM of 256. Readouts: ``last`` (the final state; both directions when bidirectional), ``mean`` (average of
the per-step predictions, as in LRCN) or ``max`` (their maximum).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zoo.registry import register_temporal_head
from zoo.specs import FRAME, FeatureSpec, HeadSpec, ModelMeta

from .._util import reduce_steps, scaled
from ..papers import PAPERS

READOUTS = ("last", "mean", "max")


class LSTMHead(nn.Module):
    def __init__(self, channels: int, num_classes: int, hidden_size: int = 256, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, readout: str = "mean",
                 input_dropout: float = 0.0, fc6: int = 0, spatial: Sequence[int] = (1, 1)):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout {readout!r} is not one of {READOUTS}")
        self.readout = readout
        self.input_dropout = nn.Dropout(input_dropout)
        self.fc6 = nn.Linear(channels * spatial[0] * spatial[1], fc6) if fc6 else None
        self.lstm = nn.LSTM(fc6 or channels, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.fc6 is not None:
            seq = torch.relu(self.fc6(x.transpose(1, 2).flatten(2)))  # [B, T, fc6]
        else:
            seq = x.mean(dim=(3, 4)).transpose(1, 2)  # [B, T, D]
        seq = self.input_dropout(seq)
        t = seq.shape[1]
        if lengths is not None:
            lens = torch.as_tensor(lengths).long().clamp(1, t).cpu()
            packed = pack_padded_sequence(seq, lens, batch_first=True, enforce_sorted=False)
            out, (h_n, _) = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        else:
            out, (h_n, _) = self.lstm(seq)
        if self.readout == "last":
            last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.lstm.bidirectional else h_n[-1]
            return self.fc(self.dropout(last))
        scores = self.fc(self.dropout(out))  # [B, T, K] per-step predictions
        return reduce_steps(scores, lengths, self.readout)


@register_temporal_head(
    "lstm", spec=HeadSpec(consumes=(FRAME,)),
    meta=ModelMeta(**PAPERS["lrcn"],
                   summary="LSTM over per-frame CNN features; readout last / mean / max.",
                   tags=("rnn", "lrcn")))
def lstm(feature: FeatureSpec, num_classes: int, hidden_size: int = 256, num_layers: int = 1,
         bidirectional: bool = False, dropout: float = 0.0, readout: str = "mean",
         input_dropout: float = 0.0, fc6: int = 0, width: float = 1.0) -> LSTMHead:
    """LSTM (`hidden_size` x `width` units) over per-frame features (spatially averaged, or each
    frame's map through an `fc6` x `width` layer); accepts ``lengths`` for padded batches."""
    return LSTMHead(feature.channels, num_classes, scaled(hidden_size, width), num_layers,
                    bidirectional, dropout, readout, input_dropout, scaled(fc6, width) if fc6 else 0,
                    feature.spatial)
