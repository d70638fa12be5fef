"""Fit an image regressor: size the network to the time limit, train, calibrate.

The images a fit is given are split (seeded) into training and validation images; the
validation images stop training and calibrate the intervals. ``model="auto"`` times a few
training steps of each candidate network, largest first, and keeps the first that trains
:data:`MIN_EPOCHS` epochs within the time limit. Training decays the learning rate to zero
by the end of the time limit (the ``anneal`` schedule), so a run that the clock stops still
ends on a decayed, settled network.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from deepfit.device import resolve_device
from deepfit.errors import ConfigError
from deepfit.estimator.resume import checkpoint_callback, saved_checkpoint
from deepfit.evaluation.intervals import ConformalCalibration
from deepfit.kinds.image.augment import Augmenter
from deepfit.kinds.image.prepare import ImagePreparer
from deepfit.kinds.image.source import ImageSource, ImageStore
from deepfit.models.convnet import ImageNetwork, ImageShape, build_image_network
from deepfit.training.callbacks import Callback, stopping_callbacks
from deepfit.training.loop import TrainConfig, predict, train
from deepfit.training.precision import choose_precision, step_precision

MIN_EPOCHS = 20  # model="auto" keeps the largest network that trains this many epochs in time
RESNET_IMAGES = 20_000  # model="auto": the plain cnn below this many training images
STAT_SAMPLE = 4096  # training images the channel statistics are computed from
FEATURE_SIDE = 40  # auto: a stem stride that leaves the first stage at most this side


@dataclass
class ImageFit:
    """What fitting an image regressor learns."""

    network: ImageNetwork
    preparer: ImagePreparer
    settings: dict[str, Any]
    conformal: ConformalCalibration | None
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def auto_stem_stride(size: int) -> int:
    """The smallest stem stride (1, 2 or 4) that leaves the first stage at most 40 pixels.

    Example:
        >>> auto_stem_stride(28), auto_stem_stride(64), auto_stem_stride(128)
        (1, 2, 4)
    """
    for stride in (1, 2):
        if size / stride <= FEATURE_SIDE:
            return stride
    return 4


def network_candidates(
    settings: dict[str, Any], size: int, n_train: int = 0
) -> list[tuple[str, int, int]]:
    """(model, width, stem stride) triples to try, largest first; a value the user gave is
    kept. ``model="auto"`` is the plain cnn below :data:`RESNET_IMAGES` training images (it
    beat the resnet on both 4,000-image benchmark sets), else the resnet, then the cnn."""
    if settings["model"] != "auto":
        models = [settings["model"]]
    else:
        models = ["cnn"] if n_train < RESNET_IMAGES else ["resnet", "cnn"]
    widths = [32, 16] if settings["width"] == "auto" else [int(settings["width"])]
    if settings["stem_stride"] == "auto":
        base = auto_stem_stride(size)
        strides = [base, base * 2] if base < 4 and size / (base * 2) >= 8 else [base]
    else:
        strides = [int(settings["stem_stride"])]
    return [(model, width, stride) for model in models for stride in strides for width in widths]


def choose_network(
    settings: dict[str, Any],
    shape: ImageShape,
    *,
    n_train: int,
    n_validation: int,
    device: torch.device,
) -> tuple[tuple[str, int, int], dict[str, float]]:
    """The first candidate (:func:`network_candidates`) whose measured pace fits
    :data:`MIN_EPOCHS` epochs in the time limit (else the last), and each tried one's
    estimated seconds per epoch."""
    candidates = network_candidates(settings, shape.size, n_train)
    limit = settings["time_limit"]
    if len(candidates) == 1 or limit is None:
        return candidates[0], {}
    batch = int(settings["batch_size"])
    steps = max(1, n_train // batch) + n_validation / (3 * batch)
    paces: dict[str, float] = {}
    for candidate in candidates:
        model, width, stride = candidate
        pace = step_seconds(model, width, stride, shape, batch, device, str(settings["precision"]))
        seconds = pace * steps
        paces[f"{model}-{width}-stride{stride}"] = round(seconds, 3)
        if seconds * MIN_EPOCHS <= float(limit):
            return candidate, paces
    return candidates[-1], paces


def step_seconds(
    model: str,
    width: int,
    stem_stride: int,
    shape: ImageShape,
    batch: int,
    device: torch.device,
    precision: str = "fp32",
) -> float:
    """Seconds of one training step of a fresh network on random images (the best of two,
    after one to warm up), in the number format the training loop will pick (``precision``
    as :func:`~deepfit.training.precision.choose_precision` resolves it)."""
    network = build_image_network(model, shape, width=width, stem_stride=stem_stride).to(device)
    network = network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, shape.channels, shape.size, shape.size, generator=generator)
    images = images.to(device).contiguous(memory_format=torch.channels_last)
    target = torch.zeros(batch, device=device)
    precision = choose_precision(precision, device, network, {"image": images})
    best = float("inf")
    for attempt in range(3):
        start = time.perf_counter()
        with step_precision(precision, device):
            output = network(image=images)
        loss = torch.nn.functional.mse_loss(output.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if attempt:
            best = min(best, time.perf_counter() - start)
    return best


def fit_image_model(
    store: ImageStore,
    target: np.ndarray,
    preparer: ImagePreparer,
    settings: dict[str, Any],
    *,
    callbacks: list[Callback] | None = None,
    start: ImageNetwork | None = None,
    resume: bool = False,
) -> ImageFit:
    """Train on every image of ``store`` (``target`` in its units) as ``settings`` say.

    ``settings`` are resolved but for ``model``, ``width`` and ``stem_stride``, which may
    be "auto";
    ``start``: a network whose backbone the new network starts from (transfer learning);
    ``resume``: continue the run checkpointed in ``settings["checkpoint_dir"]`` (the network
    it chose is kept, whatever the clock would choose now).
    """
    train_rows, val_rows = validation_split(len(store), settings)
    sample = train_rows[
        np.linspace(0, len(train_rows) - 1, min(len(train_rows), STAT_SAMPLE)).astype(int)
    ]
    preparer.fit(store.take(sample).permute(0, 2, 3, 1).numpy(), target[train_rows])
    device = resolve_device(str(settings["device"]))
    shape = ImageShape(channels=preparer.channels, size=preparer.size)
    resolved = dict(settings)
    paces: dict[str, float] = {}
    snapshot = None
    if settings["checkpoint_dir"] is not None and resume:
        snapshot = saved_checkpoint(settings["checkpoint_dir"])
    if snapshot is not None:
        chosen = snapshot.fingerprint["settings"].get("network")
        if isinstance(chosen, list) and len(chosen) == 3:
            resolved["model"], resolved["width"], resolved["stem_stride"] = chosen
    elif start is None:
        chosen, paces = choose_network(
            settings, shape, n_train=len(train_rows), n_validation=len(val_rows), device=device
        )
        resolved["model"], resolved["width"], resolved["stem_stride"] = chosen
    torch.manual_seed(int(settings["random_state"]))
    network = build_network(resolved, preparer)
    if start is not None:
        transfer_backbone(start, network, freeze=bool(settings["freeze_backbone"]))
    network = network.to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    encoded = preparer.encode_target(target).astype(np.float32)
    augmenter = Augmenter(tuple(settings["augment"])) if settings["augment"] else None

    def source(rows: np.ndarray, augment: bool) -> ImageSource:
        return ImageSource(
            store,
            rows,
            preparer,
            target=encoded[rows],
            augmenter=augmenter if augment else None,
            device=device,
        )

    train_source = source(train_rows, True)
    val_source = source(val_rows, False) if len(val_rows) else None
    limit = resolved["time_limit"]
    patience = resolved["patience"]
    config = TrainConfig(
        loss=str(resolved["loss"]),
        learning_rate=float(resolved["learning_rate"]),
        weight_decay=float(resolved["weight_decay"]),
        schedule="anneal",
        batch_size=int(resolved["batch_size"]),
        max_epochs=int(resolved["max_epochs"]),
        seed=int(resolved["random_state"]),
        time_budget=None if limit is None else float(limit),
        stall_epochs=max(1, int(patience) // 2) if patience and val_source else None,
        precision=str(resolved["precision"]),
    )
    saving = []
    if resolved["checkpoint_dir"] is not None:
        run = image_fingerprint(resolved, config, store, target, train_rows, val_rows)
        saving.append(checkpoint_callback(resolved, run, snapshot))
    state = train(
        network,
        train_source,
        val_source,
        config,
        [*_stopping(resolved, val_source), *(callbacks or []), *saving],
    )
    conformal = None
    if val_source is not None:
        raw = predict(network, val_source).float().cpu().numpy()
        residuals = np.abs(preparer.decode_target(raw) - target[val_rows])
        conformal = ConformalCalibration.from_residuals(residuals)
    summary = {
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best_validation_loss": state.best_validation_loss,
        "stop_reason": state.stop_reason,
        "seconds": round(state.seconds, 3),
        "train_images": len(train_rows),
        "validation_images": len(val_rows),
        "device": str(device),
        "precision": state.precision,
        "seconds_per_epoch_estimates": paces,
        "resumed_from_epoch": None if snapshot is None else snapshot.epoch,
    }
    history = state.records()
    network = network.to(memory_format=torch.contiguous_format).eval()
    return ImageFit(network, preparer, resolved, conformal, history, summary)


def image_fingerprint(
    settings: dict[str, Any],
    config: TrainConfig,
    store: ImageStore,
    target: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
) -> dict[str, Any]:
    """What a checkpoint of this run must match to be resumed: the training settings, the
    network, and the images (their count, shape, and a hash of the targets and of up to 256
    evenly spread images)."""
    from deepfit.training.checkpoint import file_digest

    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(target, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(train_rows).tobytes())
    sample = np.unique(np.linspace(0, len(store) - 1, min(len(store), 256)).astype(np.int64))
    digest.update(store.take(sample).contiguous().numpy().tobytes())
    init_from = settings["init_from"]
    shape = (1 if store.mode == "L" else 3, store.size, store.size)
    return {
        "settings": {
            **config.fingerprint(),
            "network": [settings["model"], settings["width"], settings["stem_stride"]],
            "augment": list(settings["augment"]),
            "dropout": settings["dropout"],
            "patience": settings["patience"],
            "validation_fraction": float(settings["validation_fraction"]),
            "init_from": None if init_from is None else file_digest(init_from),
            "freeze_backbone": bool(settings["freeze_backbone"]),
        },
        "data": {
            "train_rows": len(train_rows),
            "validation_rows": len(val_rows),
            "image_shape": list(shape),
            "hash": digest.hexdigest(),
        },
    }


def validation_split(n_images: int, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The rows a fit trains on and the rows it holds out for early stopping and intervals
    (seeded by ``random_state``): the same for the network and its baselines."""
    from deepfit.data.split import train_validation_test_split

    parts = train_validation_test_split(
        n_images,
        validation_fraction=float(settings["validation_fraction"]),
        test_fraction=0.0,
        seed=int(settings["random_state"]),
    )
    return parts.train, parts.validation


def pixel_baselines(
    settings: dict[str, Any], train: ImageStore, target: np.ndarray, test: ImageStore
) -> dict[str, np.ndarray]:
    """Each pixel baseline's predictions for ``test``, fitted on ``train`` (``target``) with
    the validation images the network had (:func:`validation_split`)."""
    from deepfit.evaluation.image_baselines import fit_pixel_baselines, store_pixels

    fit_rows, val_rows = validation_split(len(train), settings)
    pixels = store_pixels(train, np.arange(len(train)))
    fitted = fit_pixel_baselines(
        (pixels[fit_rows], target[fit_rows]),
        (pixels[val_rows], target[val_rows]),
        seed=int(settings["random_state"]),
    )
    test_pixels = store_pixels(test, np.arange(len(test)))
    return {name: predict(test_pixels) for name, predict in fitted.items()}


def build_network(settings: dict[str, Any], preparer: ImagePreparer) -> ImageNetwork:
    """The untrained network ``settings`` describe for ``preparer``'s images."""
    return build_image_network(
        str(settings["model"]),
        ImageShape(channels=preparer.channels, size=preparer.size),
        width=int(settings["width"]),
        stem_stride=int(settings["stem_stride"]),
        dropout=float(settings["dropout"]),
    )


def transfer_backbone(source: ImageNetwork, target: ImageNetwork, *, freeze: bool) -> None:
    """Copy ``source``'s backbone into ``target`` (whose head stays fresh). A first
    convolution over another number of channels is adapted: RGB weights are summed for a
    grayscale input, grayscale weights spread over three channels."""
    wanted = target.backbone.state_dict()
    given = source.backbone.state_dict()
    if set(wanted) != set(given):
        raise ConfigError(
            "the --init-from model's network does not match the one being built; "
            "fine-tune with the same --model and --width as the source model"
        )
    adapted = {}
    for name, tensor in given.items():
        shape = wanted[name].shape
        if tensor.shape != shape:
            if tensor.dim() == 4 and tensor.shape[0] == shape[0] and tensor.shape[2:] == shape[2:]:
                tensor = (
                    tensor.sum(dim=1, keepdim=True)
                    if shape[1] == 1
                    else tensor.repeat(1, shape[1], 1, 1) / shape[1]
                )
            else:
                raise ConfigError(
                    f"the --init-from model's layer {name} has shape {tuple(tensor.shape)}, "
                    f"not {tuple(shape)}; fine-tune with the same --model and --width"
                )
        adapted[name] = tensor
    target.backbone.load_state_dict(adapted, strict=True)
    if freeze:
        target.freeze_backbone()


def _stopping(settings: dict[str, Any], validation: ImageSource | None) -> list[Callback]:
    return stopping_callbacks(
        patience=settings["patience"],
        time_limit=settings["time_limit"],
        verbose=int(settings["verbose"]),
        has_validation=validation is not None,
    )
