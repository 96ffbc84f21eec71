"""The `dpcgan` command: a thin dispatcher over the subcommand modules in dpcgan.commands."""

from __future__ import annotations

import argparse
import sys
import warnings

from . import __version__
from .cli_common import command_started
from .commands import audit as audit_cmd
from .commands import evaluate as evaluate_cmd
from .commands import presets as presets_cmd
from .commands import privacy as privacy_cmd
from .commands import report as report_cmd
from .commands import sample as sample_cmd
from .commands import schema as schema_cmd
from .commands import train as train_cmd
from .errors import DPCGANError

COMMANDS = {"train": train_cmd, "sample": sample_cmd, "evaluate": evaluate_cmd, "privacy": privacy_cmd,
            "audit": audit_cmd, "presets": presets_cmd, "report": report_cmd, "schema": schema_cmd}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpcgan", description="Differentially private conditional GANs (DP-CGAN)")
    parser.add_argument("--version", action="version", version=f"dpcgan {__version__}")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    for subparser in sub.choices.values():   # also after the subcommand (`dpcgan train --threads 2 ...`)
        subparser.add_argument("--threads", type=int, default=argparse.SUPPRESS,
                               help="torch CPU threads (default: torch's choice)")
    return parser


def _plain_warning(default):
    from .data.records import EmptyClassWarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, EmptyClassWarning):
            print(f"warning: {message}", file=sys.stderr, flush=True)
        else:
            default(message, category, filename, lineno, file, line)
    return show


def main(argv: list[str] | None = None) -> int:
    command_started(whole_process=argv is None)   # without argv, the process's own command line is the command
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        from .allocator import keep_freed_memory

        keep_freed_memory()  # training re-allocates the same large blocks every step: keep them (see allocator.py)
    if args.threads is not None:
        if args.threads < 1:
            print(f"dpcgan {args.command}: error: --threads must be >= 1 (got {args.threads})", file=sys.stderr)
            return 2
        import torch

        torch.set_num_threads(args.threads)
    try:
        with warnings.catch_warnings():   # dpcgan's own warnings as one plain line, not Python's file:line form
            warnings.showwarning = _plain_warning(warnings.showwarning)
            return COMMANDS[args.command].run(args)
    except DPCGANError as e:
        print(f"dpcgan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        from .train.loop import TrainingInterrupted

        message = str(e) if isinstance(e, TrainingInterrupted) else "interrupted; nothing was written to the output"
        print(f"\ndpcgan {args.command}: {message}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
