"""Entry point of the ``fmood`` command: the parser, and errors turned into one line.

Building the parser imports only the standard library and fmood's light modules: every
command imports numpy, torch and the rest inside its ``run``, so ``fmood --help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from fmood._version import __version__
from fmood.cli import compare, demo, distance, embed, fit, neighbors, report, score, store
from fmood.errors import FmoodError

COMMANDS = (embed, fit, score, report, compare, distance, neighbors, demo, store)
#: Errors caused by what the user gave (files, values), reported without a traceback.
USER_ERRORS = (FmoodError, OSError, ValueError)
EXIT_USER_ERROR = 2  # as argparse exits on a usage error
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # as a shell reports a process killed by SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    """The ``fmood`` parser with one subcommand per module in :data:`COMMANDS`."""
    # --debug is accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback on errors",
    )
    parser = argparse.ArgumentParser(
        prog="fmood",
        description="Out-of-distribution detection on frozen foundation-model embeddings.",
        epilog="Run 'fmood COMMAND --help' for what a command reads, writes, and an example.",
    )
    parser.add_argument("--version", action="version", version=f"fmood {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fmood`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except BrokenPipeError:  # the reader of stdout left (fmood ... | head): nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("fmood: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:
        _report(args, f"fmood: error: {describe(err)}")
        return EXIT_USER_ERROR
    except Exception as err:  # a bug: say so, and how to see where
        _report(
            args,
            f"fmood: internal error: {type(err).__name__}: {describe(err)} "
            "(rerun with --debug for the traceback and report it)",
        )
        return EXIT_INTERNAL_ERROR
    return 0


def describe(err: BaseException) -> str:
    """One line for ``err``; an OS error names its file."""
    from fmood.sanitize import printable

    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        message = f"{err.filename}: {err.strerror}"
    else:
        message = str(err) or type(err).__name__
    return printable(" ".join(message.split()))


def _report(args: argparse.Namespace, line: str) -> None:
    if args.debug:
        traceback.print_exc()
    print(line, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
