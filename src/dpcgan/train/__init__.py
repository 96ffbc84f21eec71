from .loop import TrainResult, train
from .steps import DStepSettings, d_gradient_sum, discriminator_step, generator_step, public_fake_batch

__all__ = ["TrainResult", "train", "DStepSettings", "d_gradient_sum", "discriminator_step", "generator_step", "public_fake_batch"]
