"""dpcgan schema draft: write a table's schema to review (see dpcgan.tables.draft and dpcgan.tables.dp_draft)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="tables: draft a schema (column types, categories, bounds) to review")
    s = p.add_subparsers(dest="schema_command", required=True)
    d = s.add_parser("draft", help="read a schema off a table (NOT private: for public data, or to edit by hand; "
                     "with --epsilon: differentially private)")
    d.add_argument("table", help="a .csv, .csv.gz or .parquet file")
    d.add_argument("--label-column", required=True, help="the label column (categorical)")
    d.add_argument("--out", help="schema file to write (default: print it)")
    d.add_argument("--epsilon", type=float, help="a DP draft: categories from a Gaussian histogram with a threshold, "
                   "bounds from noisy quantiles on a public grid, (epsilon, delta)-DP; a run that trains with the "
                   "schema adds this cost to its own epsilon")
    d.add_argument("--delta", type=float, help="with --epsilon: delta of the draft (default min(1e-5, 0.1/n)); the "
                   "category threshold adds delta/10")
    d.add_argument("--numeric", default="", metavar="COL,COL", help="with --epsilon: the numeric columns (public "
                   "knowledge; the others are categorical)")
    d.add_argument("--quantiles", type=float, nargs=2, metavar=("LOW", "HIGH"), help="with --epsilon: numeric "
                   "bounds at these quantiles of the noisy counts (default 0.01 0.99)")


def run(args) -> int:
    if args.epsilon is None and (args.delta is not None or args.numeric or args.quantiles):
        raise ConfigError("--delta, --numeric and --quantiles are options of a DP draft: add --epsilon E")
    if args.out and Path(args.out).exists():
        raise ConfigError(f"--out {args.out} already exists; choose a new file")
    if args.epsilon is not None:
        return _run_dp(args)
    from ..tables.draft import NOT_PRIVATE, draft_schema, write_draft

    schema = draft_schema(args.table, args.label_column)
    text = write_draft(schema, args.out)
    print(f"warning: this schema was {NOT_PRIVATE}: fine for public data; for private data replace its categories "
          "and bounds with public knowledge before training", file=sys.stderr)
    _report_written(args, schema, text)
    return 0


def _run_dp(args) -> int:
    from ..tables.dp_draft import DEFAULT_QUANTILES, dp_draft_schema, dp_header
    from ..tables.draft import write_draft

    numeric = [c.strip() for c in args.numeric.split(",") if c.strip()]
    draft = dp_draft_schema(args.table, args.label_column, epsilon=args.epsilon, delta=args.delta, numeric=numeric,
                            quantiles=tuple(args.quantiles) if args.quantiles else DEFAULT_QUANTILES)
    text = write_draft(draft.schema, args.out, header=dp_header(draft))
    p = draft.schema.provenance
    print(f"DP draft: (epsilon = {p['epsilon']:g}, delta = {p['delta']:g})-DP, plus delta_threshold = "
          f"{p['delta_threshold']:.2g} for the category threshold (noise multiplier {p['noise_multiplier']:.4g}, "
          f"threshold {p['threshold']:.1f}); a run that trains with this schema composes this cost into its "
          "privacy.json", file=sys.stderr)
    for r in draft.review:
        print(f"review: {r}", file=sys.stderr)
    _report_written(args, draft.schema, text)
    return 0


def _report_written(args, schema, text: str) -> None:
    if args.out:
        print(f"wrote {args.out} ({len(schema.columns)} columns, label {schema.label!r})")
    else:
        print(text, end="")
