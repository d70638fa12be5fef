"""TabM: k MLPs in one module that share most of their weights (BatchEnsemble style).

Gorishniy et al. (ICLR 2025), "TabM: Advancing Tabular Deep Learning with Parameter-Efficient
Ensembling". Every row is seen by all ``k`` members at once: ``[B, d]`` becomes ``[B, k, d]``.
A hidden layer is one weight matrix shared by the members; a member's own parameters are
elementwise adapters around it, ``((x * r_i) @ W.T) * s_i + b_i``. Each member has its own
linear output head.

* ``"mini"`` (TabM-mini): only the very first input adapter ``r_i`` belongs to a member; the
  hidden layers are fully shared. Cheapest, and the paper's recommended default.
* ``"full"`` (TabM): adapters ``r_i``, ``s_i`` and a bias ``b_i`` on every hidden layer.

As in the reference, the first adapter starts as random signs (one sign per feature, shared by
the feature's columns) so the members differ from the first step; all other adapters start at
one, and every member's bias starts from the same values. Shared layers run on the flattened
``[B * k, d]`` tensor and the heads as one batched matmul: there is no loop over members.

In training mode the output is ``[B, k, outputs]`` so each member is trained on its own loss;
in eval mode it is the members' mean, ``[B, outputs]``. For a classifier
(``average="probabilities"``) the eval output is the logarithm of the members' mean
probability, so the softmax of it averages probabilities as the paper does, not logits (a
mean of logits keeps every member's over-confidence).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from deepfit.errors import ConfigError
from deepfit.models.dropout import FastDropout
from deepfit.models.layout import InputLayout
from deepfit.models.mlp import make_activation

Variant = Literal["mini", "full"]
VARIANTS = ("mini", "full")
AVERAGES = ("outputs", "probabilities")
AdapterInit = Literal["random-signs", "normal"]
ADAPTER_INITS = ("random-signs", "normal")


def _init_rsqrt_uniform_(tensor: torch.Tensor, d: int) -> None:
    bound = 1.0 / math.sqrt(d)
    nn.init.uniform_(tensor, -bound, bound)


@torch.no_grad()
def init_first_adapter_(
    adapter: torch.Tensor, distribution: AdapterInit, sections: list[int]
) -> None:
    """Fill ``adapter`` ``[k, d]`` section by section: one random value per member and section.

    A section is one input feature (one numeric column, or one categorical embedding block),
    so a member scales all of a feature's columns alike.
    """
    start = 0
    for width in sections:
        value = torch.empty(adapter.shape[0], 1, dtype=adapter.dtype, device=adapter.device)
        if distribution == "random-signs":
            value.bernoulli_(0.5).mul_(2.0).sub_(1.0)
        else:
            nn.init.normal_(value)
        adapter[:, start : start + width] = value
        start += width


class BatchEnsembleLinear(nn.Module):
    """A linear layer shared by ``k`` members, ``[B, k, d_in] -> [B, k, d_out]``.

    ``member_scales`` adds the per-member adapters of TabM: ``s`` on the output and a bias per
    member, and ``r`` on the input unless ``scale_input`` is False. Without them the layer is
    an ordinary shared ``Linear``.

    Example:
        >>> layer = BatchEnsembleLinear(4, 6, k=3, member_scales=True)
        >>> layer(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 3, 6])
    """

    r: nn.Parameter | None
    s: nn.Parameter | None

    def __init__(
        self, d_in: int, d_out: int, *, k: int, member_scales: bool, scale_input: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        _init_rsqrt_uniform_(self.weight, d_in)
        bias = torch.empty(d_out)
        _init_rsqrt_uniform_(bias, d_in)
        if member_scales and scale_input:
            self.r = nn.Parameter(torch.ones(k, d_in))
        else:
            self.register_parameter("r", None)
        if member_scales:
            self.s = nn.Parameter(torch.ones(k, d_out))
            # every member's bias starts equal: a shared bias plus k zero offsets, in effect
            self.bias = nn.Parameter(bias.expand(k, d_out).clone())
        else:
            self.register_parameter("s", None)
            self.bias = nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.s is None:
            return nn.functional.linear(x, self.weight, self.bias)
        if self.r is not None:
            x = x * self.r
        return torch.addcmul(self.bias, nn.functional.linear(x, self.weight), self.s)


class _Block(nn.Module):
    """``linear -> activation -> dropout``; the same state-dict keys whatever the dropout."""

    def __init__(self, linear: BatchEnsembleLinear, activation: nn.Module, dropout: float) -> None:
        super().__init__()
        self.linear = linear
        self.activation = activation
        self.dropout = FastDropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if type(self.activation) is nn.ReLU:
            return self.dropout.after_relu(self.linear(x))
        return self.dropout(self.activation(self.linear(x)))


class TabM(nn.Module):
    """TabM or TabM-mini over a flat input ``[B, d_in]``.

    ``forward`` gives ``[B, k, d_out]`` in training mode and the members' mean ``[B, d_out]``
    in eval mode; :meth:`member_outputs` always gives ``[B, k, d_out]``.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = TabM(d_in=3, d_out=1, hidden_layers=(8, 8), k=4)
        >>> x = torch.randn(5, 3)
        >>> net.train()(x).shape
        torch.Size([5, 4, 1])
        >>> net.eval()(x).shape
        torch.Size([5, 1])
        >>> bool(torch.allclose(net(x), net.member_outputs(x).mean(dim=1)))
        True
    """

    def __init__(
        self,
        *,
        d_in: int,
        d_out: int = 1,
        hidden_layers: tuple[int, ...] = (512, 512, 512),
        k: int = 32,
        variant: Variant = "mini",
        activation: str = "relu",
        dropout: float = 0.1,
        adapter_init: AdapterInit = "random-signs",
        feature_widths: tuple[int, ...] | None = None,
        average: str = "outputs",
    ) -> None:
        """``feature_widths``: the input's columns per feature, for the first adapter's
        initialisation (one feature per column when not given). ``average``: how eval mode
        joins the members, ``"outputs"`` (their mean) or ``"probabilities"`` (see above)."""
        super().__init__()
        widths = tuple(int(width) for width in hidden_layers)
        _check(d_in=d_in, d_out=d_out, widths=widths, k=k, variant=variant, dropout=dropout)
        if adapter_init not in ADAPTER_INITS:
            raise ConfigError(
                f"tabm_adapter_init must be one of {', '.join(ADAPTER_INITS)}, "
                f"however: {adapter_init!r}"
            )
        sections = list(feature_widths) if feature_widths is not None else [1] * d_in
        if sum(sections) != d_in:
            raise ConfigError(
                f"feature_widths must add up to d_in, however: sum={sum(sections)}, d_in={d_in}"
            )
        if average not in AVERAGES:
            raise ConfigError(f"average must be one of {', '.join(AVERAGES)}: {average!r}")
        self.k = k
        self.variant = variant
        self.average = average
        self.adapter = nn.Parameter(torch.empty(k, d_in))  # the first r_i of every member
        init_first_adapter_(self.adapter, adapter_init, sections)
        blocks: list[_Block] = []
        width_in = d_in
        for index, width in enumerate(widths):
            # In "full", the first layer's r_i is ``self.adapter``, which "mini" has too.
            full = variant == "full"
            linear = BatchEnsembleLinear(
                width_in, width, k=k, member_scales=full, scale_input=full and index > 0
            )
            blocks.append(_Block(linear, make_activation(activation), dropout))
            width_in = width
        self.blocks = nn.ModuleList(blocks)
        self.head_weight = nn.Parameter(torch.empty(k, width_in, d_out))
        self.head_bias = nn.Parameter(torch.empty(k, d_out))
        _init_rsqrt_uniform_(self.head_weight, width_in)
        _init_rsqrt_uniform_(self.head_bias, width_in)

    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's output, ``[B, k, d_out]`` (with dropout in training mode)."""
        h = x.unsqueeze(1) * self.adapter  # [B, k, d_in]
        if self.variant == "mini":
            # the hidden layers are shared: run them on [B * k, width], which exports as Gemm
            # (matmul and bias in one) where [B, k, width] gives MatMul and a separate Add
            h = h.reshape(-1, h.shape[-1])
            for block in self.blocks:
                h = block(h)
            h = h.reshape(-1, self.k, h.shape[-1])
        else:
            for block in self.blocks:
                h = block(h)  # [B, k, width]
        # one batched matmul over members: [k, B, width] @ [k, width, d_out]
        return (h.transpose(0, 1) @ self.head_weight).transpose(0, 1) + self.head_bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self.member_outputs(x)
        if self.training:
            return outputs
        return average_members(outputs, dim=1, average=self.average)


def average_members(outputs: torch.Tensor, *, dim: int, average: str) -> torch.Tensor:
    """The members' mean output, or the log of their mean class probability (``outputs`` are
    logits in the last dimension).

    Example:
        >>> logits = torch.tensor([[[10.0, 0.0], [0.0, 10.0]]])  # two members disagree
        >>> average_members(logits, dim=1, average="probabilities").softmax(-1)
        tensor([[0.5000, 0.5000]])
    """
    if average == "probabilities":
        log_probabilities = torch.log_softmax(outputs, dim=-1)
        return torch.logsumexp(log_probabilities, dim=dim) - math.log(outputs.shape[dim])
    return outputs.mean(dim=dim)


def _check(
    *, d_in: int, d_out: int, widths: tuple[int, ...], k: int, variant: str, dropout: float
) -> None:
    if d_in < 1:
        raise ConfigError(f"d_in must be a positive integer, however: d_in={d_in}")
    if d_out < 1:
        raise ConfigError(f"outputs must be a positive integer, however: outputs={d_out}")
    if k < 1:
        raise ConfigError(f"k must be a positive integer, however: k={k}")
    if any(width < 1 for width in widths):
        raise ConfigError(f"hidden layer widths must be positive, however: {widths}")
    if variant not in VARIANTS:
        raise ConfigError(f"tabm_variant must be 'mini' or 'full', however: {variant!r}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), however: dropout={dropout}")


def tabm_backbone(layout: InputLayout, options: dict[str, Any]) -> nn.Module:
    """A TabM backbone for ``layout``.

    Reads ``outputs`` (1), ``member_average`` ("outputs"), ``k`` (32), ``tabm_variant``
    ("mini" or "full"; "mini"),
    ``hidden_layers`` ((512, 512, 512)), ``activation`` ("relu"), ``dropout`` (0.1) and
    ``tabm_adapter_init`` ("random-signs" or "normal"; "random-signs"). ``norm`` is not used:
    TabM has no normalisation layers. Each numeric column and each categorical block is one
    feature for the first adapter's initialisation.

    Example:
        >>> layout = InputLayout(n_numeric=2, categorical_widths=(3,))
        >>> backbone = tabm_backbone(layout, {"k": 4, "hidden_layers": (8,)})
        >>> backbone.eval()(torch.zeros(6, layout.d_in)).shape
        torch.Size([6, 1])
    """
    return TabM(
        d_in=layout.d_in,
        d_out=int(options.get("outputs", 1)),
        hidden_layers=tuple(options.get("hidden_layers", (512, 512, 512))),
        k=int(options.get("k", 32)),
        variant=options.get("tabm_variant", "mini"),
        activation=options.get("activation", "relu"),
        dropout=float(options.get("dropout", 0.1)),
        adapter_init=options.get("tabm_adapter_init", "random-signs"),
        feature_widths=(1,) * layout.n_numeric + tuple(layout.categorical_widths),
        average=options.get("member_average", "outputs"),
    )
