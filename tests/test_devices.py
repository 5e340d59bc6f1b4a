"""Choosing the experts' device: requests checked against the machine before any model loads,
and resolved to the torch device each expert uses (with its index, as result.json records)."""

import pytest
import torch

from cer.core.config import ConfigError, ExpertConfig, check_devices, load_profile, with_device
from cer.core.devices import check_device, cuda_index, resolve_device
from cer.pipeline.ray_executor import actor_resources


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """What torch reports on a machine with two GPUs, the second current (no CUDA call is made)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_requests_resolve_to_a_torch_device_with_its_index(two_gpus: None) -> None:
    assert resolve_device("auto") == "cuda:1"  # the current GPU
    assert resolve_device("cuda") == "cuda:1"
    assert resolve_device("cuda:0") == "cuda:0"
    assert resolve_device("cpu") == "cpu"
    assert [cuda_index(device) for device in ("cuda:1", "cuda", "cpu")] == [1, None, None]


def test_a_gpu_the_machine_lacks_is_named_with_what_it_has(two_gpus: None) -> None:
    check_device("cuda:1")
    with pytest.raises(ValueError, match=r"device cuda:2: this machine has 2 visible GPU\(s\), cuda:0 to cuda:1"):
        check_device("cuda:2")
    with pytest.raises(ValueError, match="not one of auto, cpu, cuda, cuda:N"):
        check_device("gpu0")


def test_without_a_gpu_auto_is_the_cpu_and_cuda_is_refused(no_gpu: None) -> None:
    assert resolve_device("auto") == "cpu"
    check_device("auto")
    with pytest.raises(ValueError, match="device cuda: no CUDA GPU is visible here"):
        check_device("cuda")


def test_device_puts_every_expert_there_and_is_checked_unless_a_cluster_runs_them(no_gpu: None) -> None:
    profile = with_device(load_profile("tiny"), "cuda:0")
    assert {cfg.device for cfg in profile.experts.values()} == {"cuda:0"}
    with pytest.raises(ValueError, match="device cuda:0: no CUDA GPU"):
        check_devices(profile)
    on_cluster = load_profile("tiny", {"execution": {"ray_address": "ray://head:10001"}})
    check_devices(with_device(on_cluster, "cuda:0"))  # the cluster's GPUs are not this machine's
    with pytest.raises(ConfigError, match="String should match pattern"):
        load_profile("tiny", {"experts": {"audio": {"device": "gpu"}}})


def test_the_ray_engine_refuses_an_expert_pinned_to_one_gpu() -> None:
    """Ray gives each actor the GPU it chose, seen as cuda:0, so `cuda:1` cannot be kept there."""
    cluster = {"CPU": 4.0, "GPU": 2.0}
    plain = actor_resources({"audio": ExpertConfig(device="cuda", num_gpus=0.5)}, cluster)
    assert plain == {"audio": {"num_cpus": 0.0, "num_gpus": 0.5}}
    with pytest.raises(ConfigError, match=r"audio \(cuda:1\) cannot be honoured: use --device cuda"):
        actor_resources({"audio": ExpertConfig(device="cuda:1", num_gpus=0.5)}, cluster)
