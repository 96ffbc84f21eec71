from .accountant import (CONVERSIONS, ORDERS, PrivacyLedger, SampledGaussianEvent, calibrate_noise_multiplier,
                         epsilon, max_steps)
from .clipping import SUPPORTED_LAYERS, ClippedSum, LayerTape, clipped_grad_sum
from .noise import add_gaussian_noise_

__all__ = ["CONVERSIONS", "ORDERS", "PrivacyLedger", "SampledGaussianEvent", "calibrate_noise_multiplier", "epsilon",
           "max_steps", "SUPPORTED_LAYERS", "ClippedSum", "LayerTape", "clipped_grad_sum", "add_gaussian_noise_"]
