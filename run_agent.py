#!/usr/bin/env python3
"""run_agent.py: a desktop agent that sees the screen and works the mouse and keyboard.

Every action the model asks for passes a safety gate before it runs, and every run leaves a
folder (runs/<run-id>/) with each step's screenshot, the model's words, what was done and why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loguru import logger

EXIT_CODES = """exit codes:
  0    success, or the model answered the question
  1    the model reported failure
  2    a budget ran out (steps, or unusable replies in a row)
  3    no progress (same action again and again, or a screen that never changes)
  4    the safety gate kept refusing the model's actions
  64   bad options or configuration
  70   an error of the system or the model backend (no display, model unavailable)
  130  stopped by a person (stop hotkey, pointer thrown into a screen corner, Ctrl+C)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_agent.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="carry out a task on this desktop", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Carry out a natural-language task on the desktop, step by step.\n\n"
        "Stop it at any time: press the stop hotkey (ctrl+alt+esc), throw the mouse pointer into a\n"
        "screen corner, or press Ctrl+C here. Using the mouse or keyboard yourself pauses it.",
        epilog='example:\n  run_agent.py run "Fill the contact form with Ada Lovelace" --backend scripted '
        "--script replies.txt\n\n" + EXIT_CODES,
    )
    run.add_argument("instruction", help="what to do, in plain words")
    run.add_argument("--backend", choices=["scripted"], help="which model answers (default: scripted)")
    run.add_argument("--script", type=Path, help="reply file for the scripted backend")
    run.add_argument("--max-steps", type=int, help="stop after this many steps (default: 30)")
    run.add_argument("--confirm", choices=["ask", "allow", "deny"],
                     help="what to do with actions the safety policy wants confirmed: ask you here, "
                     "allow them, or deny them (default: ask on a terminal, deny otherwise)")
    run.add_argument("--dry-run", action="store_true", default=None,
                     help="show what would be done; touch neither mouse nor keyboard")
    run.add_argument("--monitor", help="which monitor to watch: primary (default), active, or a number")
    run.add_argument("--runs-dir", type=Path, help="where run folders go (default: runs/)")
    run.add_argument("--policy", type=Path, help="a TOML file of safety rules added to the defaults")
    run.add_argument("--sensitive-window", action="append", dest="sensitive_windows", metavar="TITLE_REGEX",
                     help="a window whose actions always need confirmation (repeatable)")
    run.add_argument("--max-pixels", type=int, help="pixel budget of the screenshot the model sees")
    run.add_argument("--config", type=Path, help="a TOML settings file (default: ./agent.toml if present); "
                     "environment variables AGENT_<SETTING> work too")
    run.add_argument("-v", "--verbose", action="store_const", const="DEBUG", dest="log_level",
                     help="log every detail")

    demo = commands.add_parser(
        "demo", help="watch the agent fill a form on a virtual display (no GPU or model needed)",
        description="Start a virtual display with the bundled contact form and let the agent fill it in,\n"
        "with scripted replies in the real model's format. Prints what the form saved.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where the run folder goes")
    return parser


def configure_logging(level: str) -> None:
    logger.remove()
    logger.add(sys.stderr, level=level, format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agent.model import ModelUnavailable
    from agent.settings import SettingsError, load_settings
    from desktop.virtual import DesktopError
    from perception.screen import ScreenUnavailable
    from safety.policy import PolicyError

    try:
        if args.command == "demo":
            configure_logging("INFO")
            from tasks.demo import run_demo

            return run_demo(args.runs_dir)
        options = {k: v for k, v in vars(args).items() if k not in ("command", "instruction", "config")}
        settings = load_settings(args.config, **options)
        configure_logging(settings.log_level)
        from agent.progress import ConsoleProgress
        from tasks.command import run_command

        result = run_command(settings, args.instruction, observers=(ConsoleProgress(),))
        if result.answer is not None:
            print(result.answer)
        return result.exit_code
    except (SettingsError, PolicyError) as error:
        print(f"run_agent.py: {error}", file=sys.stderr)
        return 64
    except (ModelUnavailable, ScreenUnavailable, DesktopError) as error:
        print(f"run_agent.py: {error}", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
