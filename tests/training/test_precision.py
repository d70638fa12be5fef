import numpy as np
import pytest
import torch

from deepfit import Regressor
from deepfit.errors import ConfigError
from deepfit.estimator.params import ARCHITECTURE, PARAMS
from deepfit.estimator.resume import run_settings
from deepfit.training import precision as precision_module
from deepfit.training.loop import TrainConfig, predict, train
from deepfit.training.precision import (
    GPU_MIN_STEP_FLOPS,
    MIN_STEP_FLOPS,
    bf16_speedup,
    choose_precision,
    forward_flops,
    step_precision,
)
from tests.support.sources import table_source


class Recording(torch.nn.Module):
    """Two layers that note the dtype of their hidden activation, in training and not."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = torch.nn.Linear(3, 16), torch.nn.Linear(16, 1)
        self.seen: dict[bool, set[torch.dtype]] = {True: set(), False: set()}

    def forward(self, numeric, categorical):
        hidden = torch.relu(self.first(numeric))
        self.seen[self.training].add(hidden.dtype)
        return self.second(hidden).squeeze(-1)


def _data(n=512, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=generator)
    return table_source(x, x @ torch.tensor([1.0, -2.0, 0.5]))


@pytest.mark.parametrize(
    ("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)]
)
def test_training_steps_run_in_the_precision_asked_and_everything_else_in_float32(precision, dtype):
    torch.manual_seed(0)
    network = Recording()
    config = TrainConfig(precision=precision, max_epochs=15, batch_size=64, learning_rate=0.01)
    state = train(network, _data(), _data(128, seed=1), config)
    assert network.seen[True] == {dtype}
    assert network.seen[False] == {torch.float32}  # the validation rows are scored in float32
    assert {p.dtype for p in network.parameters()} == {torch.float32}
    assert predict(network, _data(64, seed=2)).dtype == torch.float32
    assert state.history[-1].validation_loss < 0.05 * state.history[0].validation_loss


def test_bf16_learns_as_well_as_fp32_on_a_small_regression():
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        network = Recording()
        config = TrainConfig(precision=precision, max_epochs=30, batch_size=64, learning_rate=0.01)
        losses[precision] = train(network, _data(), _data(256, seed=1), config).history[-1]
    assert losses["bf16"].validation_loss == pytest.approx(losses["fp32"].validation_loss, abs=0.02)


def test_a_named_precision_is_kept_and_auto_asks_for_a_large_step_and_a_fast_probe(
    monkeypatch,
):
    cpu = torch.device("cpu")
    small, small_batch = torch.nn.Linear(8, 8), {"input": torch.ones(16, 8)}
    large, large_batch = torch.nn.Linear(512, 512), {"input": torch.ones(512, 512)}
    assert forward_flops(small, small_batch) < MIN_STEP_FLOPS <= forward_flops(large, large_batch)
    for name in ("fp32", "bf16"):
        assert choose_precision(name, cpu, small, small_batch) == name
    monkeypatch.setattr(precision_module, "bf16_speedup", lambda: 2.0)
    assert choose_precision("auto", cpu, large, large_batch) == "bf16"
    assert choose_precision("auto", cpu, small, small_batch) == "fp32"
    monkeypatch.setattr(precision_module, "bf16_speedup", lambda: 1.0)
    assert choose_precision("auto", cpu, large, large_batch) == "fp32"


def test_a_gpu_takes_bf16_only_for_steps_too_large_to_wait_on_kernel_launches(
    monkeypatch,
) -> None:
    gpu = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    tabular = torch.nn.Linear(512, 512)  # 268 MFLOP a batch: launch-bound on a GPU
    assert choose_precision("auto", gpu, tabular, {"input": torch.ones(512, 512)}) == "fp32"
    wide = torch.nn.Linear(4096, 4096, device="meta")  # shapes alone: 34 GFLOP a batch
    wide_batch = {"input": torch.empty(1024, 4096, device="meta")}
    assert forward_flops(wide, wide_batch) >= GPU_MIN_STEP_FLOPS
    assert choose_precision("auto", gpu, wide, wide_batch) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert choose_precision("auto", gpu, wide, wide_batch) == "fp32"


def test_counting_flops_draws_no_random_numbers_and_keeps_the_mode():
    network = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5)).train()
    torch.manual_seed(0)
    assert forward_flops(network, {"input": torch.ones(3, 4)}) == 2 * 3 * 4 * 4
    assert network.training
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after)


def test_the_loop_records_what_auto_chose(monkeypatch):
    monkeypatch.setattr(precision_module, "MIN_STEP_FLOPS", 0)
    for speedup, chosen, dtype in ((2.0, "bf16", torch.bfloat16), (1.0, "fp32", torch.float32)):
        monkeypatch.setattr(precision_module, "bf16_speedup", lambda speedup=speedup: speedup)
        network = Recording()
        state = train(network, _data(), None, TrainConfig(precision="auto", max_epochs=1))
        assert state.precision == chosen
        assert network.seen[True] == {dtype}


def test_the_probe_measures_once_per_process_and_leaves_the_random_state_alone():
    bf16_speedup.cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(5)
        first = bf16_speedup()
        assert torch.get_num_threads() == 2  # it probed on one thread and gave the two back
        drawn = torch.rand(3)
    finally:
        torch.set_num_threads(threads)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(3), drawn)
    assert first >= 0.0
    assert bf16_speedup() == first


def test_step_precision_autocasts_only_under_bf16():
    a = torch.ones(4, 4)
    with step_precision("bf16", torch.device("cpu")):
        assert (a @ a).dtype == torch.bfloat16
    with step_precision("fp32", torch.device("cpu")):
        assert (a @ a).dtype == torch.float32


def test_a_resumed_run_may_change_precision():
    settings = {name: PARAMS[name].default for name in ARCHITECTURE}
    settings |= {"hidden_layers": (8,), "patience": 5, "validation_fraction": 0.15}
    settings |= {"min_category_count": 2, "column_roles": None, "init_from": None}
    settings["train_last"] = None
    fp32 = run_settings(TrainConfig(precision="fp32"), settings)
    assert run_settings(TrainConfig(precision="bf16"), settings) == fp32


def test_the_estimator_trains_in_bf16_as_well_as_in_fp32_and_predicts_in_float64():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X @ np.array([3.0, -1.0, 2.0]) + 0.1 * rng.normal(size=400)
    errors = {}
    for precision in ("fp32", "bf16"):
        model = Regressor(
            model="mlp",
            hidden_layers=(32,),
            max_epochs=40,
            learning_rate=0.01,
            precision=precision,
            time_limit=None,
        ).fit(X, y)
        assert model.training_summary_["precision"] == precision
        predicted = model.predict(X)
        assert predicted.dtype == np.float64
        errors[precision] = np.sqrt(np.mean((predicted - y) ** 2))
    assert errors["fp32"] < 0.2 * y.std()
    assert errors["bf16"] < 1.5 * errors["fp32"]


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16"):
        Regressor(precision="fp16").fit(np.zeros((20, 2)), np.zeros(20))


class Recurrent(torch.nn.Module):
    """An LSTM over a window and a linear read-out of its last step."""

    def __init__(self, cell: type[torch.nn.RNNBase] = torch.nn.LSTM) -> None:
        super().__init__()
        self.cell = cell(4, 32, num_layers=2, batch_first=True)
        self.out = torch.nn.Linear(32, 1)

    def forward(self, window):
        return self.out(self.cell(window)[0][:, -1]).squeeze(-1)


@pytest.mark.parametrize(("cell", "gates"), [(torch.nn.LSTM, 4), (torch.nn.GRU, 3)])
def test_recurrent_layers_are_counted_although_their_cpu_kernels_are_not(cell, gates):
    network, window = Recurrent(cell), torch.zeros(8, 20, 4)
    layers = 2 * gates * 32 * (4 + 32) + 2 * gates * 32 * (32 + 32)  # per step and row
    expected = layers * 20 * 8 + 2 * 8 * 32  # and the read-out
    assert forward_flops(network, {"window": window}) == expected
    assert network.training  # the count left the mode as it was


def test_auto_can_pick_bf16_for_a_recurrent_network(monkeypatch):
    monkeypatch.setattr(precision_module, "bf16_speedup", lambda: 2.0)
    big, small = torch.zeros(256, 168, 4), torch.zeros(2, 5, 4)
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu, Recurrent(), {"window": big}) == "bf16"
    assert choose_precision("auto", cpu, Recurrent(), {"window": small}) == "fp32"
