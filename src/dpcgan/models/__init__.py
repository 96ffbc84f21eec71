"""Generator/discriminator architectures, looked up by name. `build_models` validates D for DP training."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from ..errors import ConfigError
from .conv import ConvGenerator, ConvProjectionDiscriminator
from .fc import FCDiscriminator, FCGenerator
from .validate import check_private_discriminator


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild G (and D) from a state_dict: saved beside the weights."""

    arch: str
    image_shape: tuple[int, int, int]
    num_classes: int
    latent_dim: int = 100
    hidden: int = 128            # G's width (and D's unless d_hidden)
    d_hidden: int | None = None  # D's width
    schema: dict | None = None   # tables: the public schema (dpcgan.tables.schema), which fixes the row layout
    model_side: int | None = None  # conv: the side G and D work at (images pooled to it for D, G's upsampled)

    @property
    def discriminator_width(self) -> int:
        return self.hidden if self.d_hidden is None else self.d_hidden

    def to_dict(self) -> dict:
        return asdict(self) | {"image_shape": list(self.image_shape)}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        return cls(**(d | {"image_shape": tuple(d["image_shape"])}))


def _paper_fc(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    return (FCGenerator(spec.image_shape, spec.num_classes, spec.latent_dim, spec.hidden),
            FCDiscriminator(spec.image_shape, spec.num_classes, spec.discriminator_width))


def _conv(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    # `hidden` is the base channel width for the convolutional pair.
    return (ConvGenerator(spec.image_shape, spec.num_classes, spec.latent_dim, spec.hidden,
                          model_side=spec.model_side),
            ConvProjectionDiscriminator(spec.image_shape, spec.num_classes, spec.discriminator_width,
                                        model_side=spec.model_side))


def _table_mlp(spec: ModelSpec) -> tuple[nn.Module, nn.Module]:
    from ..tables.encode import layout
    from ..tables.schema import TableSchema
    from .tabular import TableDiscriminator, TableGenerator

    if spec.schema is None:
        raise ConfigError("architecture 'table-mlp' is for tables: train on a CSV with --schema FILE")
    blocks = [(kind, w) for kind, w, _ in layout(TableSchema.from_dict(spec.schema))]
    d = sum(w for _, w in blocks)
    if tuple(spec.image_shape) != (1, 1, d):
        raise ConfigError(f"table-mlp: rows of width {d} expected for this schema, got shape {spec.image_shape}")
    return (TableGenerator(blocks, spec.num_classes, spec.latent_dim, spec.hidden),
            TableDiscriminator(d, spec.num_classes, spec.discriminator_width))


def _table_marginals(spec: ModelSpec) -> tuple[nn.Module, None]:
    """The generator of a marginal-fitted table (tables/marginal_fit.py); it has no discriminator."""
    from .tabular import MarginalTableGenerator

    G, _ = _table_mlp(ModelSpec("table-mlp", spec.image_shape, spec.num_classes, spec.latent_dim, spec.hidden,
                                spec.d_hidden, schema=spec.schema))
    return MarginalTableGenerator(G.blocks, spec.num_classes, spec.latent_dim, spec.hidden), None


# Architectures register here: name -> builder returning (generator, discriminator).
ARCHITECTURES = {"paper-fc": _paper_fc, "conv": _conv, "table-mlp": _table_mlp, "table-marginals": _table_marginals}


# What each architecture can take (checked before any record is read).
def _any_size(shape, model_side: int = 0) -> str | None:
    return None


def _square_multiple_of_4(shape, model_side: int = 0) -> str | None:
    _, h, w = shape
    if model_side:   # D pools every image to model_side, G's samples are upsampled: any shape at least that
        if min(h, w) < model_side:
            return f"images of at least model_side = {model_side} px a side, got {h}×{w}"
        return None
    if h != w or h % 4:
        return (f"square images whose side is a multiple of 4 (28×28, 32×32, 64×64, ...), or a model side (--set "
                f"model_side=S) at most theirs, got {h}×{w}")
    return None


SHAPE_RULES = {"paper-fc": _any_size, "conv": _square_multiple_of_4}


def check_image_shape_for_arch(arch: str, shape, model_side: int = 0) -> None:
    rule = SHAPE_RULES.get(arch)
    problem = rule(tuple(shape), model_side) if rule else None
    if problem:
        takes = "; ".join(f"{a}: {'any size' if r is _any_size else 'square, side a multiple of 4'}"
                          for a, r in SHAPE_RULES.items())
        raise ConfigError(f"architecture {arch!r} needs {problem}; resize with --image-size S (image folders) or "
                          f"choose another architecture ({takes})")


def build_models(spec: ModelSpec, *, private: bool = True) -> tuple[nn.Module, nn.Module]:
    if spec.arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {spec.arch!r}: choose one of {sorted(ARCHITECTURES)}")
    check_image_shape_for_arch(spec.arch, spec.image_shape, spec.model_side or 0)
    generator, discriminator = ARCHITECTURES[spec.arch](spec)
    if private and discriminator is not None:
        check_private_discriminator(discriminator)
    return generator, discriminator


def build_generator(spec: ModelSpec) -> nn.Module:
    return build_models(spec, private=False)[0]


__all__ = ["ModelSpec", "ARCHITECTURES", "build_models", "check_image_shape_for_arch", "build_generator", "check_private_discriminator",
           "FCGenerator", "FCDiscriminator",
           "ConvGenerator", "ConvProjectionDiscriminator"]
