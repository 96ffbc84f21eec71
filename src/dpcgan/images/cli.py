"""`dpcgan train` on images (a benchmark name, an .npz of arrays or an image folder): the public facts an image run
needs before any record is read (label set, image shape), the run itself, and the data of a resumed image run."""

from __future__ import annotations

from pathlib import Path

from ..cli_common import final_line, preset_name, print_plan
from ..data import BENCHMARKS, load_dataset
from ..data.arrays import is_image_folder, missing_shape_message
from ..data.datasets import dataset_image_shape, dataset_size, is_benchmark
from ..errors import ConfigError
from ..models import check_image_shape_for_arch


def print_auto_reasons(args) -> None:
    """What --preset auto chose and why, one line a choice (before the plan, which gives the exact sigma)."""
    for reason in getattr(args, "auto_reasons", None) or ():
        print(f"auto: {reason}", flush=True)


def own_data(cfg) -> bool:
    return not is_benchmark(cfg.dataset) and (Path(cfg.dataset).exists() or cfg.dataset.endswith(".npz"))


def require_public_label_set(cfg) -> None:
    if own_data(cfg) and cfg.num_classes is None and cfg.label_names is None and cfg.mode != "off":
        raise ConfigError(missing_label_set_message(cfg.dataset))


def missing_label_set_message(dataset: str) -> str:
    what = "--label-names FILE (e.g. `ls DIR > labels.txt`)" if is_image_folder(dataset) else \
        "--num-classes K (or --label-names FILE)"
    return (f"{what} is required for your own data ({dataset}): the label set is a public input; reading it off the "
            "private data is not covered by the guarantee")


def require_public_image_shape(cfg) -> None:
    """An image folder's shape is public input (--image-size, --channels), checked before any image is opened:
    chosen from the images, one grey-saved-as-RGB or odd-sized image would change the released shape or stop the run."""
    if own_data(cfg) and is_image_folder(cfg.dataset) and (cfg.image_size is None or cfg.channels is None):
        raise ConfigError(missing_shape_message(cfg.dataset))


def check_shape_early(cfg) -> None:
    """Images the architecture cannot take are refused before any record is read (arrays: shape from headers only;
    image folders: the public --channels and --image-size)."""
    if is_benchmark(cfg.dataset) or not Path(cfg.dataset).exists():
        return
    check_image_shape_for_arch(cfg.arch, public_image_shape(cfg.dataset, cfg.channels, cfg.image_size),
                               cfg.model_side)


def public_image_shape(dataset: str, channels: int | None, image_size: int | None) -> tuple[int, int, int]:
    """(C, H, W) of own data without reading a record: an image folder's public --channels and --image-size (both
    required), else the arrays' header."""
    if is_image_folder(dataset):
        if image_size is None or channels is None:
            raise ConfigError(missing_shape_message(dataset))
        return channels, image_size, image_size
    return dataset_image_shape(dataset)


def train_images(args, cfg, world, device) -> int:
    from ..train import train  # heavy imports only when needed
    from ..train.run_dir import check_output_dir

    if getattr(args, "schema_is_public", False):
        raise ConfigError("--schema-is-public applies to tables (--dataset FILE.csv --schema FILE) only")
    if own_data(cfg):  # remembered (privately) for --resume from anywhere; the released files name it only
        cfg = cfg.replace(dataset=str(Path(cfg.dataset).resolve()))
    require_public_label_set(cfg)
    require_public_image_shape(cfg)
    check_shape_early(cfg)
    if args.dry_run:  # the plan from public facts only: n from the file's header, K from the benchmark or the flag
        num_classes = BENCHMARKS[cfg.dataset].num_classes if is_benchmark(cfg.dataset) else cfg.num_classes
        if num_classes is None:
            raise ConfigError("--dry-run on your own data needs --num-classes K or --label-names FILE")
        print_auto_reasons(args)
        print_plan(cfg, dataset_size(cfg.dataset), num_classes)
        return 0
    name = preset_name(args)
    out = Path(args.out) if args.out else Path("runs") / f"{name}-{Path(cfg.dataset).stem}-{cfg.mode}"
    world.from_main(lambda: check_output_dir(out, args.overwrite))  # before loading data: fail fast
    data = load_training_images(cfg, {}, args.data_dir, progress=world.main and not args.no_progress)
    if world.main:
        print_auto_reasons(args)
        print_plan(cfg, len(data), data.num_classes)
    result = train(cfg, data, out, overwrite=args.overwrite, progress=not args.no_progress, device=device,
                   world=world, data_location={"data_dir": str(Path(args.data_dir).resolve())} if args.data_dir else None)
    if world.main:
        print(final_line(result, cfg, world, device))
    return 0


def load_training_images(cfg, record: dict, data_dir: str | None, progress: bool = True):
    """The training images as the config names them: a new run's, or an interrupted run's (its saved config and
    private record; the record itself is not needed for images)."""
    return load_dataset(cfg.dataset, "train", data_dir, num_classes=cfg.num_classes,
                        label_names=list(cfg.label_names) if cfg.label_names else None, image_size=cfg.image_size,
                        channels=cfg.channels, progress=progress)


def sample_images(args) -> Path:
    from ..sample import write_synthetic

    return write_synthetic(args.run, args.n, args.labels, args.out, args.seed, fmt=args.format or "npz",
                           overwrite=args.overwrite)
