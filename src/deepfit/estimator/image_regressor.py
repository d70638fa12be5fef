"""``ImageRegressor``: a number from a picture (a count, an angle, an age, a price).

Example:
    >>> from deepfit import ImageRegressor
    >>> model = ImageRegressor(augment=["flip"]).fit("photos/", labels="labels.csv",
    ...                                              target="count")  # doctest: +SKIP
    >>> model.predict("new_photos/")  # doctest: +SKIP
    array([3.1, 6.8, ...])
    >>> import numpy as np
    >>> digits = np.random.default_rng(0).integers(0, 255, (64, 16, 16), dtype=np.uint8)
    >>> model = ImageRegressor(model="cnn", width=4, max_epochs=2, time_limit=None)
    >>> model.fit(digits, digits.mean(axis=(1, 2))).predict(digits[:2]).shape
    (2,)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfit.artifact import model_params
from deepfit.errors import ConfigError, DataError, NotFittedError
from deepfit.estimator.imaging import ImageFit, fit_image_model
from deepfit.estimator.params import AUTO, check_params, defaults, params_for
from deepfit.evaluation.intervals import check_level
from deepfit.image_artifact import SavedImageModel, load_image_model, save_image_model
from deepfit.kinds.image.decode import survey
from deepfit.kinds.image.files import ImageFiles, find_images, read_labelled
from deepfit.kinds.image.prepare import MAX_SIZE, ImagePreparer
from deepfit.kinds.image.source import ImageSource, OpenedImages, open_store
from deepfit.training.callbacks import Callback
from deepfit.training.loop import predict as raw_predict

TASK = "image"
DEFAULTS = defaults(TASK)
AUTO_SIZE = (16, 64)  # image_size="auto": the median shorter side, within these bounds
CHOSEN_LATER = ("model", "width", "stem_stride")  # "auto" here: fit_image_model times candidates
Images = str | Path | ImageFiles | np.ndarray


class ImageRegressor:
    """A convolutional network (a ResNet-18 layout by default) that predicts a number from
    an image; see :mod:`deepfit.estimator.params` for every parameter."""

    def __init__(
        self,
        *,
        image_size: int | str = AUTO,
        resize: str = "pad",
        model: str = AUTO,
        width: int | str = AUTO,
        stem_stride: int | str = AUTO,
        augment: Sequence[str] = (),
        dropout: float | str = AUTO,
        loss: str = "mse",
        learning_rate: float | str = AUTO,
        weight_decay: float | str = AUTO,
        batch_size: int | str = AUTO,
        max_epochs: int | str = AUTO,
        patience: int | str | None = AUTO,
        validation_fraction: float = 0.15,
        time_limit: float | str | None = AUTO,
        init_from: str | Path | None = None,
        freeze_backbone: bool = False,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1,
        device: str = AUTO,
        precision: str = "auto",
        random_state: int | None = 0,
        verbose: int = 0,
    ) -> None:
        self.image_size = image_size
        self.resize = resize
        self.model = model
        self.width = width
        self.stem_stride = stem_stride
        self.augment = tuple(augment)
        self.dropout = dropout
        self.loss = loss
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.time_limit = time_limit
        self.init_from = init_from
        self.freeze_backbone = freeze_backbone
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.fit_: ImageFit | None = None
        self.metrics_: dict[str, Any] | None = None  # test scores, set by deepfit train

    def get_params(self) -> dict[str, Any]:
        """The parameters as given (``"auto"`` kept)."""
        return {name: getattr(self, name) for name in DEFAULTS}

    def fit(
        self,
        images: Images,
        y: Any = None,
        *,
        labels: str | Path | pd.DataFrame | None = None,
        target: str | None = None,
        skip_bad: bool = False,
        resume: bool = False,
        callbacks: Sequence[Callback] = (),
    ) -> ImageRegressor:
        """Train on ``images``: a folder with a ``labels`` table (its ``file`` column and the
        ``target`` column), or an array of images ``[n, H, W(, C)]`` with targets ``y``.
        ``skip_bad`` leaves out unreadable files instead of stopping at the first; ``resume``
        continues the run saved in ``checkpoint_dir``."""
        opened = self.open(images, y, labels=labels, target=target, skip_bad=skip_bad)
        return self.fit_opened(opened, callbacks, resume=resume)

    def open(
        self,
        images: Images,
        y: Any = None,
        *,
        labels: str | Path | pd.DataFrame | None = None,
        target: str | None = None,
        skip_bad: bool = False,
    ) -> OpenedImages:
        """Decode labelled training images at the size and mode this model will use."""
        settings = self._settings()
        start = self._start(settings)
        files, array, values = _labelled(images, y, labels, target)
        if array is not None:
            mode = "L" if array.ndim == 3 or array.shape[3] == 1 else "RGB"
            side = int(min(array.shape[1], array.shape[2]))
        else:
            assert files is not None
            found = survey(files.paths(), skip_bad=skip_bad)  # one pass over the headers
            mode, side = found.mode, found.median_side
        if settings["image_size"] != AUTO:
            size = int(settings["image_size"])
        elif start is not None:
            size = start.preparer.size  # the scale the backbone's features were learnt at
        else:
            size = int(np.clip(side, *AUTO_SIZE))
        opened = open_store(
            files if files is not None else array,  # type: ignore[arg-type]
            mode=mode,
            size=size,
            resize=str(settings["resize"]),
            skip_bad=skip_bad,
        )
        if opened.target is None:
            opened.target = np.asarray(values, dtype=np.float64)[opened.kept]
            opened.target_name = str(getattr(y, "name", None) or "target")
        if len(opened.kept) < 2:
            raise DataError(
                f"only {len(opened.kept)} image(s) could be read; train on at least two images"
            )
        return opened

    def fit_opened(
        self, opened: OpenedImages, callbacks: Sequence[Callback] = (), *, resume: bool = False
    ) -> ImageRegressor:
        """Train on images :meth:`open` decoded (or a subset of them)."""
        settings = self._settings()
        if resume and settings["checkpoint_dir"] is None:
            raise ConfigError("resume needs checkpoint_dir (--checkpoint-dir): where the run is")
        start = self._start(settings)
        assert opened.target is not None
        store = opened.store
        preparer = ImagePreparer(
            size=store.size,
            mode=store.mode,
            resize=str(settings["resize"]),
            target_name=opened.target_name,
        )
        resolved = self._resolved(settings, len(store), preparer.size, start)
        self.fit_ = fit_image_model(
            store,
            opened.target,
            preparer,
            resolved,
            callbacks=list(callbacks),
            start=None if start is None else start.network,
            resume=resume,
        )
        return self

    def predict(self, images: Images, *, skip_bad: bool = False) -> np.ndarray:
        """One prediction per image (a folder's images sorted by path), in the target's units."""
        return self.predict_frame(images, skip_bad=skip_bad)[self.prediction_column].to_numpy()

    @property
    def prediction_column(self) -> str:
        return f"predicted_{self.check_fitted().preparer.target_name}"

    def predict_frame(
        self, images: Images, *, interval: float | None = None, skip_bad: bool = False
    ) -> pd.DataFrame:
        """``file, predicted_<target>`` (and ``lower_``/``upper_`` at ``interval``), one
        row per image that could be read."""
        opened = self.open_for_prediction(images, skip_bad=skip_bad)
        return self.frame_of(opened, interval=interval)

    def open_for_prediction(self, images: Images, *, skip_bad: bool = False) -> OpenedImages:
        """Decode ``images`` as this model reads them (a folder: every image, sorted)."""
        fit = self.check_fitted()
        prep = fit.preparer
        if isinstance(images, str | Path):
            images = find_images(images)
        return open_store(
            images, mode=prep.mode, size=prep.size, resize=prep.resize, skip_bad=skip_bad
        )

    def predict_opened(self, opened: OpenedImages) -> np.ndarray:
        """Predictions for decoded images, in the target's units."""
        fit = self.check_fitted()
        device = next(iter(fit.network.parameters())).device
        source = ImageSource(
            opened.store, np.arange(len(opened.store)), fit.preparer, device=device
        )
        raw = raw_predict(fit.network, source).float().cpu().numpy()
        return fit.preparer.decode_target(raw)

    def frame_of(self, opened: OpenedImages, *, interval: float | None = None) -> pd.DataFrame:
        fit = self.check_fitted()
        point = self.predict_opened(opened)
        name = fit.preparer.target_name
        out: dict[str, Any] = {"file": opened.names, f"predicted_{name}": point}
        if interval is not None:
            if fit.conformal is None:
                raise ConfigError(
                    "this model has no interval calibration (it was trained without "
                    "validation images); predict without an interval"
                )
            half = fit.conformal.quantile(check_level(interval))
            out[f"lower_{name}"] = point - half
            out[f"upper_{name}"] = point + half
        return pd.DataFrame(out)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model to one ``.deepfit`` file (atomic; no pickle)."""
        return save_image_model(self.describe(), path, overwrite=overwrite)

    def describe(self) -> SavedImageModel:
        """The fitted model as its file holds it."""
        fit = self.check_fitted()
        return SavedImageModel(
            network=fit.network,
            preparer=fit.preparer,
            settings=fit.settings,
            params=self.get_params(),
            conformal=fit.conformal,
            history=fit.history,
            training=fit.summary,
            metrics=self.metrics_,
        )

    @classmethod
    def load(cls, path: str | Path) -> ImageRegressor:
        """A model saved with :meth:`save`; its predictions are bit-identical."""
        saved = load_image_model(path)
        known = {k: v for k, v in model_params(saved.params).items() if k in DEFAULTS}
        regressor = cls(**known)
        regressor.fit_ = ImageFit(
            network=saved.network,
            preparer=saved.preparer,
            settings=saved.settings,
            conformal=saved.conformal,
            history=saved.history,
            summary=saved.training,
        )
        regressor.metrics_ = saved.metrics
        return regressor

    @property
    def settings_(self) -> dict[str, Any]:
        return self.check_fitted().settings

    def check_fitted(self) -> ImageFit:
        """The fitted state; a NotFittedError before ``fit``."""
        if self.fit_ is None:
            raise NotFittedError("this ImageRegressor is not fitted yet; call fit(images, ...)")
        return self.fit_

    def _settings(self) -> dict[str, Any]:
        settings = self.get_params()
        check_params(settings, TASK)
        if settings["image_size"] != AUTO and int(settings["image_size"]) > MAX_SIZE:
            raise ConfigError(
                f"image_size must be at most {MAX_SIZE}, however: {settings['image_size']}"
            )
        if settings["stem_stride"] not in (AUTO, 1, 2, 4):
            raise ConfigError(
                f"stem_stride must be 'auto', 1, 2 or 4, however: {settings['stem_stride']!r}"
            )
        if settings["freeze_backbone"] and settings["init_from"] is None:
            raise ConfigError(
                "freeze_backbone needs init_from (--init-from MODEL): a backbone to keep"
            )
        return settings

    def _start(self, settings: dict[str, Any]) -> SavedImageModel | None:
        if settings["init_from"] is None:
            return None
        return load_image_model(settings["init_from"])

    def _resolved(
        self,
        settings: dict[str, Any],
        n_images: int,
        size: int,
        start: SavedImageModel | None,
    ) -> dict[str, Any]:
        resolved = dict(settings)
        resolved["image_size"] = size
        resolved["augment"] = list(settings["augment"])
        if start is not None:
            for name in ("model", "width", "stem_stride"):
                resolved[name] = start.settings[name]
        for name, spec in params_for(TASK).items():
            if spec.auto and resolved[name] == AUTO and name not in CHOSEN_LATER:
                resolved[name] = spec.resolve_fallback(n_images)
        if resolved["random_state"] is None:
            resolved["random_state"] = int(np.random.SeedSequence().entropy % 2**31)  # type: ignore[operator]
        for name in ("init_from", "checkpoint_dir"):
            if resolved[name] is not None:
                resolved[name] = str(resolved[name])
        return resolved


def _labelled(
    images: Images, y: Any, labels: Any, target: str | None
) -> tuple[ImageFiles | None, np.ndarray | None, np.ndarray | None]:
    """The images to train on, as files or an array, and their targets."""
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4) or len(images) == 0:
            raise DataError(
                f"image arrays must be [n, height, width] or [n, height, width, channels] "
                f"with n >= 1, however: shape {images.shape}"
            )
        if y is None:
            raise DataError("give the targets of the image array as y: fit(images, y)")
        values = pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce").to_numpy(float)
        if len(values) != len(images):
            raise DataError(f"{len(images)} images but {len(values)} targets; give one per image")
        if not np.isfinite(values).all():
            raise DataError("the targets must be finite numbers, one per image")
        return None, images, values
    if isinstance(images, ImageFiles):
        if images.target is None:
            raise DataError("these image files have no targets; read them with read_labelled")
        return images, None, None
    if labels is None or target is None:
        raise DataError(
            "training on a folder of images needs labels: a table with a 'file' column and "
            "the target (--labels labels.csv --target NAME)"
        )
    return read_labelled(images, labels, target=target), None, None
