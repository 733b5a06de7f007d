import os

import pytest
import torch

from lrc_utils.config import REPO_ROOT


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.environ.setdefault("LRC_PROGRESS", "0")  # no progress bars in the test log


@pytest.fixture
def repo_root():
    return REPO_ROOT


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
