"""dpcgan report: RUN/report.html (self-contained; private section unless --public-only) and RUN/MODEL_CARD.md."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write RUN/report.html and RUN/MODEL_CARD.md",
                       description="Write RUN/report.html (one self-contained file: privacy statement, epsilon "
                                   "curve, samples, progress, evaluation, config; and, marked PRIVATE, the "
                                   "training losses, clipped fraction and audit) and RUN/MODEL_CARD.md "
                                   "(releasable: no private content).")
    p.add_argument("run", help="run directory")
    p.add_argument("--public-only", action="store_true",
                   help="leave the private section out of report.html (then it is releasable)")


def run(args) -> int:
    from ..report import write_report
    from ..sample import release_warning

    html_path, card_path = write_report(args.run, public_only=args.public_only)
    print(f"wrote {html_path}" + ("" if args.public_only else " (contains PRIVATE content: do not release; "
                                                              "--public-only for a releasable one)"))
    print(f"wrote {card_path}")
    warning = release_warning(args.run)
    if warning:
        print(f"warning: {warning}")
    return 0
