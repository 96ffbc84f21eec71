"""One object to fit and sample, like synthcity, SmartNoise Synth or SDV, with dpcgan's exact ledger behind it.

    from dpcgan import DPCGAN
    m = DPCGAN(epsilon=5.0, delta=1e-5)          # preset "auto": chosen from n, epsilon, shape, K at fit; any
                                                 # TrainConfig field as a keyword overrides it
    m.fit(x, y, labels=["benign", "malignant", "normal"])             # or num_classes=K
    x_syn, y_syn = m.sample(10_000)
    m.epsilon, m.privacy_report()
    m.save("runs/scans-eps5"); m2 = DPCGAN.load("runs/scans-eps5")

A fitted model is a normal run directory (written to `out`, or to a temporary folder until `save`), so the CLI's
`sample`, `evaluate`, `audit` and `report` work on it too.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import torch

from .config import (AUTO_BASE, DEFAULT_TABLE_PRESET, MARGINAL_ARCH, TABLE_ARCHS, TrainConfig, apply_budget, auto_config,
                     batch_for_size, preset as preset_config, validate)
from .data.arrays import check_label_names, images_from_arrays
from .errors import ConfigError, DPCGANError
from .sample import load_generator, run_label_names, sample_synthetic


class DPCGAN:
    """A DP-CGAN with a fixed configuration: the preset, with `epsilon`, `delta` and any TrainConfig field
    overridden. The label set (names or K) is a public input given to `fit`.

    preset "auto" (the default) chooses the recipe at `fit` from public facts only (n, epsilon, delta, the image
    shape, K; `auto_reasons` says what it chose and why); a table given to an auto model trains with the table
    preset table-eps1."""

    def __init__(self, preset: str = "auto", *, epsilon: float | None = None, delta: float | None = None,
                 threads: int | None = None, **overrides):
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise DPCGANError(f"unknown setting(s) {unknown}: the keywords are TrainConfig fields ({sorted(known)})")
        self.auto = preset == "auto"
        if delta is not None:
            overrides.setdefault("delta", delta)
        # epsilon, sigma and steps combine as on the command line (config.apply_budget): epsilon with steps
        # calibrates sigma to spend epsilon in those steps, sigma with steps runs them and reports epsilon, ...
        if epsilon is None:
            epsilon = overrides.pop("target_epsilon", None)
        self._budget = {"epsilon": epsilon, "sigma": overrides.pop("noise_multiplier", None),
                        "steps": overrides.pop("steps", None)}
        self._overrides = dict(overrides)   # what the user set: kept over auto's choices at fit
        self.auto_reasons: list[str] = []
        self.config: TrainConfig = self._configure(AUTO_BASE if self.auto else preset_config(preset))
        validate(self.config)
        if threads is not None and not (isinstance(threads, int) and threads >= 1):
            raise DPCGANError(f"threads must be a positive integer (got {threads!r})")
        self.threads = threads   # torch CPU threads for fit (as `dpcgan --threads N`); None: torch's choice
        self.run_dir: Path | None = None
        self._temporary: Path | None = None
        self._cleanup: weakref.finalize | None = None   # removes _temporary (see _new_temporary)
        self._names_in: bool = False   # were the training labels given as names (then samples get names too)

    # --- training ------------------------------------------------------------------------------------------------
    def fit(self, x, y=None, *, labels: list[str] | None = None, num_classes: int | None = None,
            out: str | Path | None = None, overwrite: bool = False, resume: bool = False, progress: bool = True,
            device: str | None = None, label_column: str | None = None, schema=None,
            schema_is_public: bool = False) -> "DPCGAN":
        """Train on images x (numpy or torch; N×H×W, N×C×H×W or N×H×W×C; uint8 0-255 or float 0-1) and labels y
        (integers in [0, K) or names among `labels`). Writes the run directory to `out` while training
        (checkpoints: after an interruption, call fit again with the same data and resume=True), else to a private
        temporary folder (owner-only) that is deleted when this object is garbage-collected or Python exits: call
        `save(path)` to keep the run.

        Tables: x a pandas DataFrame (or a CSV/Parquet path) with `schema` (a TOML/JSON file, a dict, or a
        TableSchema: public) and `label_column`; use a table preset (DPCGAN("table-eps1", ...)). A schema drafted from
        the rows without DP marks the run not for release unless schema_is_public=True declares it public."""
        from .train import train
        from .train.loop import TrainingInterrupted

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        if schema is not None:
            return self._fit_table(x, schema, label_column, out, overwrite, progress, device, schema_is_public)
        if y is None:
            raise DPCGANError("fit(x, y): give the labels y (or, for a table, schema=... and label_column=...)")

        if labels is not None:
            labels = check_label_names(labels, source="labels")
        data = images_from_arrays(x, y, label_names=labels, num_classes=num_classes, name="array")
        self._names_in = labels is not None and np.asarray(y if not hasattr(y, "numpy") else y.numpy()).dtype.kind in "USO"
        cfg = self.config
        if self.auto:
            base, self.auto_reasons = auto_config(len(data), tuple(data.x.shape[1:]), data.num_classes,
                                                  self._budget["epsilon"], self._overrides.get("delta"))
            cfg = self._configure(base)
            validate(cfg)
            if progress:
                for reason in self.auto_reasons:
                    print(f"auto: {reason}", flush=True)
        cfg = cfg.replace(dataset="array", num_classes=data.num_classes,
                          label_names=tuple(labels) if labels is not None else None)
        if resume and out is None:
            raise DPCGANError("resume=True needs the out= directory of the interrupted fit")
        if out is None:
            out, overwrite = self._new_temporary() / "run", False
        try:
            result = train(cfg, data, out, overwrite=overwrite, resume=resume, progress=progress, device=device)
        except TrainingInterrupted as e:
            if "kept in" not in str(e) or self._temporary is not None:
                raise
            raise TrainingInterrupted(f"interrupted: the run is kept in {out}.partial (last checkpoint); continue it "
                                      f"with the same data: fit(x, y, ..., out={str(out)!r}, resume=True)") from e
        self.config, self.run_dir = cfg, Path(result.run_dir)
        return self

    def _fit_table(self, table, schema, label_column, out, overwrite, progress, device,
                   schema_is_public: bool = False) -> "DPCGAN":
        from .tables.csvio import load_table
        from .tables.schema import TableSchema, parse_schema, read_schema_file
        from .train import train

        if not isinstance(schema, TableSchema):
            schema = parse_schema(schema) if isinstance(schema, dict) else read_schema_file(schema)
        if schema_is_public:  # recorded in the schema's provenance, hence in privacy.json
            from .tables.draft import declare_public

            schema = declare_public(schema)
        if label_column is not None and label_column != schema.label:
            raise DPCGANError(f"label_column {label_column!r} differs from the schema's label {schema.label!r}")
        if self.auto:   # auto is a recipe for images; tables get the table default
            self.config = self._configure(preset_config(DEFAULT_TABLE_PRESET))
            validate(self.config)
        if self.config.arch not in TABLE_ARCHS:
            raise DPCGANError(f"tables train with a table preset: DPCGAN('table-marginals', 'table-eps1' or "
                              "'table-eps10', ...) "
                              f"(this model's architecture is {self.config.arch!r})")
        if self.config.arch == MARGINAL_ARCH:   # the CLI's check: no D-step setting is silently ignored
            from .tables.train_cli import D_STEP_FLAGS, refuse_d_step_settings

            given = {**self._overrides, "steps": self._budget["steps"]}
            try:
                refuse_d_step_settings([f for f in D_STEP_FLAGS if given.get(f) is not None])
            except ConfigError as e:
                raise DPCGANError(str(e).replace("--preset table-eps1", "DPCGAN('table-eps1', ...)")) from None
        from .tables.train_cli import schema_for

        schema = schema_for(self.config, schema)
        data = load_table(table, schema, label_column, say=print if progress else None)
        cfg = self.config
        why = ""
        if cfg.arch == MARGINAL_ARCH:   # the pair rounds from public facts, as on the CLI
            from .privacy.schema_release import schema_release
            from .tables.marginal_recipe import with_pair_rounds

            cfg, why = with_pair_rounds(cfg, schema, len(data), schema_release(schema))
        elif "batch_size" not in self._overrides:   # a preset's batch cut to fit a small table, as on the CLI
            cfg, why = batch_for_size(cfg, len(data))
        if why and progress:
            print(f"table: {why}", flush=True)
        cfg = cfg.replace(dataset=data.name, num_classes=data.num_classes, label_names=tuple(schema.label_names))
        if out is None:
            out, overwrite = self._new_temporary() / "run", False
        result = train(cfg, data, out, overwrite=overwrite, progress=progress, device=device)
        self.config, self.run_dir = cfg, Path(result.run_dir)
        return self

    def _configure(self, base: TrainConfig) -> TrainConfig:
        """The preset (or auto's recipe), then epsilon / sigma / steps by the CLI's rule, then the other settings."""
        return apply_budget(base, **self._budget).replace(**self._overrides)

    def _new_temporary(self) -> Path:
        """A private temporary folder for a fit without out=: readable by the owner only, and removed (with its
        private files) when this object is garbage-collected or the interpreter exits (save() first to keep it)."""
        if self._cleanup is not None:
            self._cleanup()   # a second fit: the first one's temporary run goes
        self._temporary = Path(tempfile.mkdtemp(prefix="dpcgan-"))   # mode 0700
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._temporary, ignore_errors=True)
        return self._temporary

    # --- the released model ------------------------------------------------------------------------------------
    def _require_fit(self) -> Path:
        if self.run_dir is None:
            raise DPCGANError("the model is not fitted: call fit(x, y, ...) or DPCGAN.load(RUN)")
        return self.run_dir

    def sample(self, n: int, seed: int | None = None, label_prior: str | list[float] = "trained"):
        """n labeled samples: x as synthetic.npz holds it (uint8, N×H×W for one channel, else N×C×H×W) and y as the
        labels were given to fit (names, or integers); for a table, one DataFrame. Post-processing: no privacy cost."""
        run = self._require_fit()
        if isinstance(n, float) and n.is_integer():   # 1e6
            n = int(n)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise DPCGANError(f"n must be a whole number >= 1 (got {n!r})")
        n = int(n)
        G, ckpt = load_generator(run)
        if isinstance(label_prior, str):
            prior = list(ckpt["label_prior"]) if label_prior == "trained" else None
            if prior is None:
                from .config import load_label_prior

                prior = load_label_prior(label_prior, G.num_classes)
        else:
            w = np.asarray(label_prior, dtype=float)
            if w.shape != (G.num_classes,) or (w < 0).any() or w.sum() <= 0:
                raise DPCGANError(f"label_prior: expected {G.num_classes} non-negative weights")
            prior = (w / w.sum()).tolist()
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed()))
        if ckpt["spec"].get("schema") is not None:  # a table: a DataFrame with the original columns and values
            from .tables.schema import TableSchema
            from .tables.synth import sample_rows

            return sample_rows(G, TableSchema.from_dict(ckpt["spec"]["schema"]), n, prior, gen,
                               calibration=ckpt.get("marginal_tables"))
        x, y = sample_synthetic(G, n, prior, gen)
        if self._names_in:
            y = np.asarray(self.label_names, dtype=object)[y]
        return x, y

    @property
    def label_names(self) -> list[str]:
        run = self._require_fit()
        return run_label_names(run, json.loads((run / "config.json").read_text())["dataset"]["num_classes"])

    def privacy_report(self) -> dict:
        """The run's privacy.json."""
        return json.loads((self._require_fit() / "privacy.json").read_text())

    @property
    def epsilon(self) -> float | None:
        """The epsilon spent, under the run's headline conversion (the one to quote: privacy_report()['report_this'])."""
        return self.privacy_report()["epsilon"]

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Copy the run directory (releasable files and its private/ folder) to `path`."""
        run, dest = self._require_fit(), Path(path)
        if dest.resolve() == run.resolve():
            return dest
        if dest.exists():
            if not overwrite:
                raise DPCGANError(f"{dest} already exists; pass overwrite=True or choose another path")
            if not (dest / "config.json").is_file():
                raise DPCGANError(f"{dest} is not a dpcgan run; refusing to overwrite it")
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            shutil.copytree(run, staging / "run")
            (staging / "run").rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest

    @classmethod
    def load(cls, path: str | Path) -> "DPCGAN":
        """A fitted model from a run directory (written by fit(out=...), save, or `dpcgan train`)."""
        run = Path(path)
        config_file = run / "config.json"
        if not (config_file.is_file() and (run / "generator.pt").is_file()):
            raise DPCGANError(f"{run} is not a completed dpcgan run (config.json and generator.pt expected)")
        model = cls.__new__(cls)
        model.config = TrainConfig.from_dict(json.loads(config_file.read_text())["config"])
        model.run_dir, model._temporary = run, None
        model.auto, model._overrides, model.auto_reasons, model.threads = False, {}, [], None
        model._budget = {"epsilon": None, "sigma": None, "steps": None}
        model._names_in = model.config.label_names is not None
        return model

    def __repr__(self) -> str:
        state = f"fitted, epsilon={self.epsilon:.4g}" if self.run_dir is not None else "not fitted"
        return f"DPCGAN({state}, run_dir={self.run_dir})"
