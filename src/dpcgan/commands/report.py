"""dpcgan report: RUN/report.html (self-contained; private section unless --public-only) and RUN/MODEL_CARD.md."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write RUN/report.html, RUN/MODEL_CARD.md and RUN/private/report.html",
                       description="Write RUN/report.html (one self-contained file: privacy statement, epsilon "
                                   "curve, samples, progress, an evaluation on public benchmarks, config; releasable) "
                                   "and RUN/MODEL_CARD.md (releasable), and RUN/private/report.html, the same page "
                                   "with a section marked PRIVATE: the training losses on real batches, the clipped "
                                   "fraction, the audit, and an evaluation on private data.")
    p.add_argument("run", help="run directory")
    p.add_argument("--public-only", action="store_true", help="write only the releasable report and model card")
    p.add_argument("--include-private-evaluation", action="store_true",
                   help="also put an evaluation computed on private data (RUN/private/evaluation.json: your own test "
                        "or training records) into the releasable report and model card; its numbers describe that "
                        "data, outside the DP guarantee (by default only an evaluation on public benchmarks is)")


def run(args) -> int:
    from ..report import write_report
    from ..report.write import releasable_contents
    from ..sample import release_warning

    html_path, card_path, private_path = write_report(args.run, public_only=args.public_only,
                                                      include_private_evaluation=args.include_private_evaluation)
    contents = releasable_contents(args.run, include_private_evaluation=args.include_private_evaluation)
    print(f"wrote {html_path} and {card_path} (releasable: {contents})")
    if private_path is not None:
        print(f"wrote {private_path} (contains PRIVATE content: do not release)")
    warning = release_warning(args.run)
    if warning:
        print(f"warning: {warning}")
    return 0
