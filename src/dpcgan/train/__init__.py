from .loop import TrainResult, train
from .steps import (DStepSettings, d_gradient_sum, discriminator_step, discriminator_update, generator_step,
                    generator_update, public_fake_batch)

__all__ = ["TrainResult", "train", "DStepSettings", "d_gradient_sum", "discriminator_step", "discriminator_update",
           "generator_step", "generator_update", "public_fake_batch"]
