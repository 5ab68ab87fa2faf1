"""The `trainwatch` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


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
        from keras_trainwatch.demo import run_demo

        run_demo(log_dir=args.log_dir, epochs=args.epochs, out=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
