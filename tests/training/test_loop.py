import itertools
import time

import pytest
import torch

from deepfit.training.callbacks import Callback, EarlyStopping, TimeLimit
from deepfit.training.distributed import LOCAL, Runtime
from deepfit.training.loop import TrainConfig, evaluate_loss, train
from deepfit.training.losses import make_loss
from deepfit.training.optim import OPTIMIZERS, Schedule, make_optimizer, weight_penalty
from deepfit.training.state import ANNEALED
from tests.support.sources import table_source


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)

    def forward(self, numeric, categorical):
        return self.layer(numeric).squeeze(-1)


def _data(n=256, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.01 * torch.randn(n, generator=generator)
    return table_source(x, y)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_every_optimizer_and_loss_learns_a_linear_function(optimizer, loss):
    torch.manual_seed(0)
    net = Linear()
    lr = 0.05 if optimizer == "sgd" else 0.02
    config = TrainConfig(
        loss=loss,
        optimizer=optimizer,
        learning_rate=lr,
        max_epochs=30,
        batch_size=32,
        schedule="constant",
    )
    state = train(net, _data(), None, config)
    assert state.epoch == 30
    assert state.history[-1].train_loss < 0.2 * state.history[0].train_loss


@pytest.mark.parametrize("schedule", ["constant", "cosine", "plateau"])
def test_schedules_move_the_learning_rate_as_named(schedule):
    net = Linear()
    config = TrainConfig(schedule=schedule, learning_rate=0.1, max_epochs=20, batch_size=64)
    state = train(net, _data(), _data(64, seed=1), config)
    rates = [record.learning_rate for record in state.history]
    if schedule == "constant":
        assert set(rates) == {0.1}
    elif schedule == "cosine":
        assert rates[0] == pytest.approx(0.1)
        assert rates[-1] < 0.01
        assert all(a >= b for a, b in itertools.pairwise(rates))
    else:
        assert rates[0] == pytest.approx(0.1)  # only drops once validation stalls
        assert min(rates) <= 0.1


def test_early_stopping_stops_and_restores_the_best_weights():
    torch.manual_seed(0)
    net = Linear()
    train_data = _data()
    # Validation targets are pure noise, so validation loss soon stops improving.
    noise = torch.Generator().manual_seed(3)
    validation = table_source(torch.randn(64, 3, generator=noise), torch.randn(64, generator=noise))
    config = TrainConfig(learning_rate=0.05, max_epochs=500, batch_size=32, schedule="constant")
    state = train(net, train_data, validation, config, [EarlyStopping(patience=5)])
    assert state.epoch < 500
    assert "early stopping" in state.stop_reason
    assert state.epoch - state.best_epoch == 5
    restored = evaluate_loss(net, validation, make_loss("mse"))
    assert restored == pytest.approx(state.best_validation_loss, rel=1e-6)


def test_early_stopping_waits_for_an_anneal_to_reach_zero():
    torch.manual_seed(0)
    net = Linear()
    train_data = _data()
    noise = torch.Generator().manual_seed(3)  # a target nothing predicts: progress soon stops
    validation = table_source(torch.randn(64, 3, generator=noise), torch.randn(64, generator=noise))
    # 3 epochs without progress start a decay of at least 3 more: patience 4 falls inside it
    config = TrainConfig(
        learning_rate=0.05, max_epochs=500, batch_size=32, schedule="anneal", stall_epochs=3
    )
    state = train(net, train_data, validation, config, [EarlyStopping(patience=4)])
    assert state.stop_reason == ANNEALED
    assert state.history[-1].learning_rate < 0.05
    assert state.epoch - state.best_epoch > 4  # patience alone would have stopped it sooner
    assert evaluate_loss(net, validation, make_loss("mse")) == pytest.approx(
        state.best_validation_loss, rel=1e-6
    )


def test_time_limit_stops_a_long_run():
    state = train(
        Linear(), _data(), None, TrainConfig(max_epochs=10**6, batch_size=256), [TimeLimit(0.3)]
    )
    assert state.epoch < 10**6
    assert "time limit" in state.stop_reason


def test_the_time_limit_ends_an_epoch_longer_than_itself():
    data = _data(4096)
    net = Linear()
    original = net.forward

    def forward(numeric, categorical):
        time.sleep(0.01)  # 128 batches of 32: about 1.3 s an epoch
        return original(numeric, categorical)

    net.forward = forward
    config = TrainConfig(max_epochs=5, batch_size=32, schedule="constant")
    state = train(net, data, None, config, [TimeLimit(0.2)])
    assert state.epoch == 1
    assert "time limit" in state.stop_reason
    assert state.seconds < 0.8


def test_divergence_is_reported_not_hidden():
    net = Linear()
    data = _data()
    data.tensors["target"] = data.tensors["target"] * 1e20
    config = TrainConfig(optimizer="sgd", learning_rate=10.0, max_epochs=50, schedule="constant")
    state = train(net, data, None, config)
    assert "diverged" in state.stop_reason
    assert state.epoch < 50


def test_same_seed_same_weights():
    def run():
        torch.manual_seed(0)
        net = Linear()
        train(net, _data(), None, TrainConfig(max_epochs=3, batch_size=16, seed=7))
        return net.layer.weight.detach().clone()

    assert torch.equal(run(), run())


def test_weight_penalties_l1_l2_and_elastic_net():
    weights = [torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0]])]
    assert weight_penalty(weights, l1=0.0, l2=0.0) is None
    assert float(weight_penalty(weights, l1=0.1, l2=0.0)) == pytest.approx(0.6)
    assert float(weight_penalty(weights, l1=0.0, l2=0.1)) == pytest.approx(1.4)
    assert float(weight_penalty(weights, l1=0.1, l2=0.1)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="non-negative"):
        weight_penalty(weights, l1=-1.0, l2=0.0)


def test_l1_penalty_shrinks_the_weights():
    def weight_norm(l1):
        torch.manual_seed(0)
        net = Linear()
        train(
            net,
            _data(),
            None,
            TrainConfig(max_epochs=30, l1=l1, learning_rate=0.05, schedule="constant"),
        )
        return float(net.layer.weight.detach().abs().sum())

    assert weight_norm(2.0) < 0.7 * weight_norm(0.0)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: make_loss("hinge"), "loss must be one of"),
        (lambda: make_loss("huber", huber_delta=0.0), "huber_delta must be positive"),
        (lambda: make_optimizer("lbfgs", iter([]), learning_rate=0.1), "optimizer must be"),
        (lambda: make_optimizer("adam", iter([]), learning_rate=0.0), "learning_rate must be"),
        (lambda: Schedule("step", None, max_epochs=3), "schedule must be one of"),
        (lambda: EarlyStopping(patience=0), "patience must be"),
    ],
)
def test_bad_training_settings_say_what_is_wrong(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


class Notes(Callback):
    """Notes the hooks it sees; stops after epoch ``stop_at`` if given."""

    def __init__(self, main_only=False, stop_at=None):
        self.main_only, self.stop_at, self.seen = main_only, stop_at, []

    def on_setup(self, state, parts):
        self.seen.append("setup")

    def on_train_start(self, state, network):
        self.seen.append("start")

    def on_epoch_end(self, state, network):
        if state.epoch == self.stop_at:
            state.stop, state.stop_reason = True, "noted enough"
        self.seen.append(f"epoch {state.epoch} stop={state.stop}")

    def on_train_end(self, state, network):
        self.seen.append("end")


class TwinRuntime(Runtime):
    """One of two processes whose twin does exactly the same: sums double, gathers repeat."""

    def any_each(self, flags):
        return [bool(flag) for flag in flags]

    def sum(self, values):
        return [2 * value for value in values]

    def gather(self, obj):
        return [obj] * self.world_size

    def align(self, tensors):
        pass

    def wrap(self, network):
        return network


def _weights_after(runtime, callbacks=()):
    torch.manual_seed(0)
    net = Linear()
    config = TrainConfig(max_epochs=3, batch_size=32, seed=7)
    state = train(net, _data(), _data(64, seed=1), config, callbacks, runtime=runtime)
    return net.layer.weight.detach().clone(), state


def test_the_local_runtime_trains_as_no_runtime_and_calls_every_hook_in_order():
    main_only, plain = Notes(main_only=True), Notes(stop_at=2)
    weights, state = _weights_after(LOCAL, [main_only, plain])
    assert torch.equal(weights, _weights_after(None, [Notes(stop_at=2)])[0])
    assert state.epoch == 2
    assert main_only.seen == ["setup", "start", "epoch 1 stop=False", "epoch 2 stop=False", "end"]
    assert plain.seen == ["setup", "start", "epoch 1 stop=False", "epoch 2 stop=True", "end"]


def test_across_processes_losses_are_summed_and_main_only_callbacks_act_in_rank_0_at_last():
    state = _weights_after(None)[1]
    for rank in (0, 1):
        main_only, plain = Notes(main_only=True), Notes(stop_at=2)
        twin = _weights_after(TwinRuntime(rank=rank, world_size=2), [main_only, plain])[1]
        assert (twin.epoch, twin.stop_reason) == (2, "noted enough")
        assert [r.train_loss for r in twin.history] == [r.train_loss for r in state.history[:2]]
        assert [r.validation_loss for r in twin.history] == [
            r.validation_loss for r in state.history[:2]
        ]
        assert plain.seen == ["setup", "start", "epoch 1 stop=False", "epoch 2 stop=True", "end"]
        if rank == 0:  # called after the processes agreed, so it sees the stop of a later callback
            expected = ["setup", "start", "epoch 1 stop=False", "epoch 2 stop=True", "end"]
        else:
            expected = ["setup"]  # a resumed checkpoint loads in every process
        assert main_only.seen == expected


class Dropped(Linear):
    def __init__(self) -> None:
        super().__init__()
        self.dropout = torch.nn.Dropout(0.2)
        self.rates: list[float] = []

    def forward(self, numeric, categorical):
        if self.training:
            self.rates.append(self.dropout.p)
        return self.layer(self.dropout(numeric)).squeeze(-1)


def test_the_anneal_decays_dropout_to_zero_and_training_gives_its_rate_back():
    torch.manual_seed(0)
    net = Dropped()
    config = TrainConfig(learning_rate=0.05, max_epochs=8, batch_size=64, schedule="anneal")
    train(net, _data(), _data(64, seed=1), config)
    assert net.rates[0] == 0.2  # 4 batches an epoch; the last 2 epochs decay
    assert net.rates[-1] == 0.0  # the rate a batch ends at
    assert net.rates[-2] == pytest.approx(0.2 / 8)
    assert sorted(net.rates, reverse=True) == net.rates
    assert net.dropout.p == 0.2


def test_other_schedules_leave_dropout_alone():
    torch.manual_seed(0)
    net = Dropped()
    train(net, _data(), None, TrainConfig(max_epochs=3, batch_size=64, schedule="cosine"))
    assert set(net.rates) == {0.2}
