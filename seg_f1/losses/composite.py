"""Weighted sum of loss terms, keeping each term's value for logging."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seg_f1.losses.base import loss_input


class CompositeLoss(nn.Module):
    """``total = sum_name weights[name] * terms[name](logits, target)``.

    Terms with weight 0 are dropped here, so a sweep that switches a term off spends no compute
    on it. ``forward_terms`` also returns each term's unweighted value, which the module logs as
    ``train/loss_<name>``.

    Args:
        terms: loss modules by term name (e.g. ``{"ce": CELoss(), "dice": DiceLoss()}``).
        weights: a weight >= 0 for every term name; at least one must be positive.
    """

    def __init__(self, terms: dict[str, nn.Module], weights: dict[str, float]) -> None:
        super().__init__()
        if set(terms) != set(weights):
            raise ValueError(
                f"loss terms {sorted(terms)} and weights {sorted(weights)} must name the same terms"
            )
        for name, weight in weights.items():
            if not weight >= 0:
                raise ValueError(f"loss.{name}_weight must be >= 0, got {weight}")
        kept = [name for name in terms if weights[name] > 0]
        if not kept:
            raise ValueError(f"every loss term weight is 0 ({sorted(weights)}): nothing to train")
        self.terms = nn.ModuleDict({name: terms[name] for name in kept})
        self.weights = {name: float(weights[name]) for name in kept}

    def forward_terms(self, logits: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Return ``(total, {term name: unweighted term value})``."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            logits = loss_input(logits)  # once, not once per term
        values = {name: term(logits, target) for name, term in self.terms.items()}
        total = sum(self.weights[name] * value for name, value in values.items())
        return total, values

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.forward_terms(logits, target)[0]

    def extra_repr(self) -> str:
        return ", ".join(f"{name}_weight={weight}" for name, weight in self.weights.items())
