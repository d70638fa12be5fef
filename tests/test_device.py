"""The device a run trains on: a GPU for each process, or the CPU."""

from __future__ import annotations

import pytest
import torch

from deepfit import ConfigError, DeepfitWarning
from deepfit import device as devices
from deepfit.device import local_processes, resolve_device


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that looks like it has one GPU, outside torchrun."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    devices._warn_gpus_too_few.cache_clear()


def test_auto_takes_the_gpu_for_one_process(one_gpu: None) -> None:
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match="'cuda:1' does not exist: this machine has 1 GPU"):
        resolve_device("cuda:1")


def test_auto_trains_on_the_cpu_when_the_processes_outnumber_the_gpus(
    one_gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert local_processes() == 2
    with pytest.warns(DeepfitWarning, match="2 processes on this machine and 1 GPU"):
        assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="needs a GPU for each, and it has 1; start at most 1"):
        resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_one_process_per_gpu_keeps_the_gpu(one_gpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "3")  # one process here, two on other machines
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "")  # unset by hand: the world counts
    assert local_processes() == 3


def test_no_gpu_means_the_cpu_and_cuda_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="no GPU is available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        resolve_device("gpu")
