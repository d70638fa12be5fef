"""Export a network with torch's TorchScript ONNX exporter and run it in onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn


def onnx_and_torch_outputs(
    net: nn.Module,
    traced: tuple[torch.Tensor, ...],
    names: tuple[str, ...],
    inputs: tuple[torch.Tensor, ...],
    path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """Export ``net`` (eval mode) traced on ``traced`` with the rows axis dynamic, then give
    onnxruntime's and torch's outputs for ``inputs`` (best with another row count)."""
    net.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            traced,
            path,
            input_names=list(names),
            output_names=["out"],
            dynamic_axes={name: {0: "rows"} for name in (*names, "out")},
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})
    with torch.no_grad():
        expected = net(*inputs).numpy()
    return got, expected
