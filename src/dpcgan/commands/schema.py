"""dpcgan schema draft: write a table's schema to review (see dpcgan.tables.draft)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="tables: draft a schema (column types, categories, bounds) to review")
    s = p.add_subparsers(dest="schema_command", required=True)
    d = s.add_parser("draft", help="read a schema off a table (NOT private: for public data, or to edit by hand)")
    d.add_argument("table", help="a .csv, .csv.gz or .parquet file")
    d.add_argument("--label-column", required=True, help="the label column (categorical)")
    d.add_argument("--out", help="schema file to write (default: print it)")
    d.add_argument("--epsilon", type=float, help="a DP draft (DP histogram with threshold, DP bounds): not "
                   "implemented yet")


def run(args) -> int:
    from ..tables.draft import NOT_PRIVATE, draft_schema, write_draft

    if args.epsilon is not None:
        raise ConfigError("schema draft --epsilon (a DP draft) is not implemented yet: draft from public data, or "
                          "write the schema from public knowledge")
    if args.out and Path(args.out).exists():
        raise ConfigError(f"--out {args.out} already exists; choose a new file")
    schema = draft_schema(args.table, args.label_column)
    text = write_draft(schema, args.out)
    print(f"warning: this schema was {NOT_PRIVATE}: fine for public data; for private data replace its categories "
          "and bounds with public knowledge before training", file=sys.stderr)
    if args.out:
        print(f"wrote {args.out} ({len(schema.columns)} columns, label {schema.label!r})")
    else:
        print(text, end="")
    return 0
