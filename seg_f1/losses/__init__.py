"""Differentiable surrogates of per-class F1, and the factory that mixes them from config."""

from seg_f1.losses.ce import CELoss
from seg_f1.losses.composite import CompositeLoss
from seg_f1.losses.dice import DiceLoss
from seg_f1.losses.factory import build_loss
from seg_f1.losses.focal import FocalLoss
from seg_f1.losses.lovasz import LovaszSoftmaxLoss
from seg_f1.losses.tversky import TverskyLoss

__all__ = [
    "CELoss",
    "CompositeLoss",
    "DiceLoss",
    "FocalLoss",
    "LovaszSoftmaxLoss",
    "TverskyLoss",
    "build_loss",
]
