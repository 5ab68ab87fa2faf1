"""The `trainwatch` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from keras_trainwatch import __version__


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1, got {text}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `trainwatch`."""
    parser = argparse.ArgumentParser(
        prog="trainwatch",
        description="See and fix training failures of Keras models.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train a broken network on digits, show what the watch finds, fix it",
    )
    demo.add_argument(
        "--log-dir",
        default="trainwatch_logs",
        help="TensorBoard log directory (default: %(default)s)",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=10,
        help="epochs per run (default: %(default)s)",
    )
    report = commands.add_parser(
        "report",
        help="print the findings of GradientWatch runs under LOGDIR",
    )
    report.add_argument("logdir", help="a TensorBoard log directory")
    report.add_argument(
        "--plot",
        metavar="OUT.png",
        help="also write a gradient-flow chart (needs matplotlib)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trainwatch` console script.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The process exit code.
    """
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.command == "demo":
        from keras_trainwatch._quiet import import_tensorflow_if_backend

        # Here, not at import: `--help` and `report` load no TensorFlow.
        import_tensorflow_if_backend()
        from keras_trainwatch.cli.demo import run_demo

        _log_to(sys.stdout)
        run_demo(log_dir=args.log_dir, epochs=args.epochs, out=sys.stdout)
    elif args.command == "report":
        return _report(args.logdir, args.plot)
    return 0


def _log_to(stream):
    """Shows the library's log lines (AutoLRReducer's reductions) in the
    demo's report."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("    > %(message)s"))
    logger = logging.getLogger("keras_trainwatch")
    logger.addHandler(handler)
    logger.propagate = False


def _report(logdir, plot):
    from keras_trainwatch.cli.report import findings_table, plot_gradient_flow
    from keras_trainwatch.tensorboard.reader import read_runs

    try:
        runs = read_runs(logdir)
    except FileNotFoundError as error:
        print(f"trainwatch report: {error}", file=sys.stderr)
        return 2
    print(findings_table(runs))
    if plot:
        try:
            plot_gradient_flow(runs, plot)
        except (RuntimeError, ValueError) as error:
            print(f"trainwatch report: {error}", file=sys.stderr)
            return 1
        print(f"\nGradient-flow chart written to {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
