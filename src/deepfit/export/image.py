"""Export an image model to ONNX: uint8 pixels in, the target in its own units out.

The graph's input ``image`` is uint8 ``[batch, size, size, channels]``, the layout Pillow and
numpy decode to, already resized as ``metadata_props['deepfit_image']`` (JSON) says (size,
mode, resize). The graph normalises the pixels by the training images' channel statistics,
runs the network and undoes the target's scaling: its output ``prediction`` ``[batch]`` is
in the target's units. The export is refused unless onnxruntime matches torch.

Example:
    >>> export_image_model(ImageRegressor.load("count.deepfit"), "count.onnx")  # doctest: +SKIP
    PosixPath('count.onnx')
"""

from __future__ import annotations

import copy
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from deepfit.estimator.image_regressor import ImageRegressor
from deepfit.export.runtime import check_runtime
from deepfit.files import atomic_writer, check_writable
from deepfit.kinds.image.prepare import ImagePreparer

OPSET = 17
ONNX_FORMAT_VERSION = 1


class PixelsToTarget(nn.Module):
    """uint8 ``[batch, size, size, channels]`` -> the prediction in the target's units."""

    def __init__(self, network: nn.Module, preparer: ImagePreparer) -> None:
        super().__init__()
        self.network = network
        shape = (1, preparer.channels, 1, 1)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(preparer.mean).view(shape).float())
        self.register_buffer("std", torch.tensor(preparer.std).view(shape).float())
        self.loc, self.scale = preparer.target_loc, preparer.target_scale

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        pixels = (image.permute(0, 3, 1, 2).float() - self.mean) / self.std
        return self.network(image=pixels) * self.scale + self.loc


def export_image_model(
    model: ImageRegressor,
    path: str | Path,
    *,
    images: np.ndarray | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` to ``path`` (atomically) as ONNX, opset 17, after checking onnxruntime
    against torch on ``images`` (uint8 ``[n, size, size, channels]``) or seeded noise."""
    fit = model.check_fitted()
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    prep = fit.preparer
    wrapped = PixelsToTarget(copy.deepcopy(fit.network).cpu().eval(), prep).eval()
    if images is None:
        seeded = np.random.default_rng(0)
        images = seeded.integers(0, 256, (8, prep.size, prep.size, prep.channels), np.uint8)
    batch = torch.from_numpy(np.ascontiguousarray(images))
    with tempfile.TemporaryDirectory(prefix="deepfit-") as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (batch[:2],),
            Path(folder) / "network.onnx",
            input_names=["image"],
            output_names=["prediction"],
            dynamic_axes={"image": {0: "batch"}, "prediction": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
        graph = onnx.load(Path(folder) / "network.onnx")
    with torch.no_grad():
        expected = wrapped(batch).numpy()
    _describe(graph, prep, str(fit.settings.get("model")))
    data = graph.SerializeToString()
    with atomic_writer(path, overwrite=overwrite) as handle:
        handle.write(data)
        check_runtime(
            data, {"image": batch.numpy()}, expected, outputs="predictions", rows="images"
        )
    return path


def _describe(graph: onnx.ModelProto, prep: ImagePreparer, model: str) -> None:
    from deepfit.version import __version__

    graph.graph.name = "deepfit_image"
    graph.graph.doc_string = f"predicts {prep.target_name!r} from uint8 images; see metadata_props"
    graph.producer_name, graph.producer_version = "deepfit", __version__
    del graph.metadata_props[:]
    layout = {
        **prep.to_dict(),
        "input": "image uint8 [batch, size, size, channels]",
        "model": model,
    }
    onnx.helper.set_model_props(
        graph,
        {
            "deepfit_version": __version__,
            "deepfit_onnx_format": str(ONNX_FORMAT_VERSION),
            "deepfit_task": "regression",
            "deepfit_kind": "image",
            "deepfit_target": prep.target_name,
            "deepfit_image": json.dumps(layout),
        },
    )
    onnx.checker.check_model(graph, full_check=True)
