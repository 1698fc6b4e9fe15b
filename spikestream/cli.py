"""The ``spikestream`` command: one subcommand per module in ``spikestream/commands``.

Each command module defines ``register(subparsers)``, which adds its parser and
sets ``func(args) -> int``. ``spikestream`` with no subcommand runs the main
job on the built-in default (see :mod:`spikestream.commands.main_job`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .streams.errors import SpikestreamError

COMMANDS = ("info", "send", "run", "profile", "train", "eval", "import_nir", "export_nir", "gui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikestream",
        description="Run spiking neural networks on event-camera streams in real time.",
    )
    parser.add_argument("--version", action="version", version=f"spikestream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from .commands import main_job

            return main_job.run()
        return int(args.func(args) or 0)
    except SpikestreamError as e:
        print(f"spikestream: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
