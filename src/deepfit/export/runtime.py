"""Refuse an exported graph unless onnxruntime gives torch's answers on the same inputs."""

from __future__ import annotations

import numpy as np

from deepfit.errors import ArtifactError, brief

MAX_DIFFERENCE = 1e-4  # largest |onnxruntime - torch|, relative to the outputs' size (>= 1)


def check_runtime(
    data: bytes, feed: dict[str, np.ndarray], expected: np.ndarray, *, outputs: str, rows: str
) -> None:
    """Run the serialised graph ``data`` on ``feed`` in onnxruntime and raise an
    :class:`ArtifactError` unless its first output is within :data:`MAX_DIFFERENCE` of
    ``expected`` (``outputs`` and ``rows`` name them in the error, e.g. "forecasts", "windows").

    Example:
        >>> check_runtime(graph, {"image": pixels}, torch_answers, outputs="predictions",
        ...               rows="images")  # doctest: +SKIP
    """
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = np.asarray(session.run(None, feed)[0])
    except Exception as error:
        raise ArtifactError(
            f"onnxruntime cannot run the exported network: {brief(error)}"
        ) from error
    gap = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else np.inf
    if not gap <= MAX_DIFFERENCE * max(1.0, float(np.abs(expected).max())):
        raise ArtifactError(
            f"onnxruntime's {outputs} differ from torch's by up to {gap:.3g} on {len(expected)} "
            f"{rows} (at most {MAX_DIFFERENCE:g} allowed); nothing was written, please report it"
        )
