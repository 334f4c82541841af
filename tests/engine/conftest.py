import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # tiny_run, the shared tiny dataset/model/script


@pytest.fixture(autouse=True)
def one_thread():
    """The tests share a small machine; one thread also keeps CPU results reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
