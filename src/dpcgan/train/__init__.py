from .loop import TrainResult, train
from .steps import DStepSettings, discriminator_step, generator_step, public_fake_batch

__all__ = ["TrainResult", "train", "DStepSettings", "discriminator_step", "generator_step", "public_fake_batch"]
