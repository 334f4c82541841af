"""Model tests run on tiny inputs, where torch's intra-op threads cost more than they give:
on a busy 2-core machine two OpenMP threads per process spin against each other and made
forward/backward passes 10-25x slower than one thread. The models tests use one thread."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
