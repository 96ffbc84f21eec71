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
    d.add_argument("--max-categories", type=int, default=None, metavar="N", help="a text column with more "
                   "categories (with --epsilon: above the noisy threshold) is skipped, written as a comment and "
                   "listed in drop = [...] (default 50)")
    d.add_argument("--ignore", default="", metavar="COL,COL", help="columns to leave out (drop = [...]); with "
                   "--epsilon they are never read")
    d.add_argument("--numeric-range", action="append", default=[], metavar="COL=LO:HI", help="with --epsilon: a "
                   "numeric column with a public coarse range: its bounds come from a linear grid on it (not the "
                   "log grid) and stay inside it; repeat for more columns")
    d.add_argument("--integer", default="", metavar="COL,COL", help="with --epsilon: these numeric columns hold "
                   "integers (public knowledge): integer = true, bounds rounded outwards")
    d.add_argument("--datetime", action="append", default=[], metavar="COL=YYYY-MM-DD:YYYY-MM-DD", help="with "
                   "--epsilon: a date column with public bounds (type = \"datetime\"); without --epsilon, columns "
                   "of ISO dates are drafted as datetime from the data")


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _ranges(items: list[str], flag: str, parse) -> dict:
    """COL=LO:HI (repeatable) -> {COL: (parse(LO), parse(HI))}; one error line naming the flag otherwise."""
    out = {}
    for item in items:
        col, sep, rng = item.rpartition("=")
        parts = rng.split(":")
        try:
            if not sep or not col or len(parts) != 2:
                raise ValueError
            lo, hi = parse(parts[0].strip()), parse(parts[1].strip())
        except ValueError:
            example = "COL=2015-01-01:2024-12-31" if flag == "--datetime" else "COL=0:23"
            raise ConfigError(f"{flag} {item!r}: expected {example}") from None
        if col in out:
            raise ConfigError(f"{flag} names {col!r} twice")
        out[col] = (lo, hi)
    return out


def _day(text: str) -> float:
    import math

    from ..tables.schema import date_days

    days = date_days(text) if len(text) == 10 else math.nan   # YYYY-MM-DD: the ':' separates the two bounds
    if not math.isfinite(days):
        raise ValueError(text)
    return days


def run(args) -> int:
    dp_only = {"--delta": args.delta is not None, "--numeric": args.numeric, "--quantiles": args.quantiles,
               "--numeric-range": args.numeric_range, "--integer": args.integer}
    if args.epsilon is None and any(dp_only.values()):
        raise ConfigError(f"{', '.join(k for k, v in dp_only.items() if v)}: option(s) of a DP draft: add --epsilon E")
    if args.epsilon is None and args.datetime:
        raise ConfigError("--datetime is for a DP draft (add --epsilon E); without --epsilon, columns of ISO dates "
                          "are drafted as datetime from the data")
    if args.out and Path(args.out).exists():
        raise ConfigError(f"--out {args.out} already exists; choose a new file")
    if args.epsilon is not None:
        return _run_dp(args)
    from ..tables.draft import MAX_CATEGORIES, NOT_PRIVATE, draft_schema, write_draft

    schema = draft_schema(args.table, args.label_column, ignore=_names(args.ignore),
                          max_categories=MAX_CATEGORIES if args.max_categories is None else args.max_categories)
    text = write_draft(schema, args.out)
    print(f"warning: this schema was {NOT_PRIVATE}: fine for public data; for private data replace its categories "
          "and bounds with public knowledge before training", file=sys.stderr)
    _report_written(args, schema, text)
    return 0


def _run_dp(args) -> int:
    from ..tables.dp_draft import DEFAULT_QUANTILES, dp_draft_schema, dp_header
    from ..tables.draft import MAX_CATEGORIES, write_draft

    draft = dp_draft_schema(args.table, args.label_column, epsilon=args.epsilon, delta=args.delta,
                            numeric=_names(args.numeric),
                            quantiles=tuple(args.quantiles) if args.quantiles else DEFAULT_QUANTILES,
                            max_categories=MAX_CATEGORIES if args.max_categories is None else args.max_categories,
                            ranges=_ranges(args.numeric_range, "--numeric-range", float),
                            dates=_ranges(args.datetime, "--datetime", _day),
                            integer=_names(args.integer), ignore=_names(args.ignore))
    text = write_draft(draft.schema, args.out, header=dp_header(draft))
    p = draft.schema.provenance
    print(f"DP draft: (epsilon = {p['epsilon']:g}, delta = {p['delta']:g})-DP, plus delta_threshold = "
          f"{p['delta_threshold']:.2g} for the category threshold (noise multiplier {p['noise_multiplier']:.4g}, "
          f"threshold {p['threshold']:.1f}); a run that trains with this schema composes this cost into its "
          "privacy.json", file=sys.stderr)
    for r in draft.review:
        print(f"review: {r}", file=sys.stderr)
    for w in draft.warnings:
        print(f"warning: {w}", file=sys.stderr)
    _report_written(args, draft.schema, text)
    return 0


def _report_written(args, schema, text: str) -> None:
    for name in schema.dropped:
        print(f"skipped: {name} — {schema.drop_reasons.get(name, 'dropped')}", file=sys.stderr)
    if args.out:
        print(f"wrote {args.out} ({len(schema.columns)} columns, label {schema.label!r})")
    else:
        print(text, end="")
