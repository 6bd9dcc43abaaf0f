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

from agent.profiles import profile_names
from agent.settings import Settings, SettingsError

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
    add_model_options(run)
    run.add_argument("--max-steps", type=int, help="stop after this many steps (default: 30)")
    run.add_argument("--history-images", type=int, metavar="K",
                     help="screenshots the model sees per step: the current one and K-1 earlier (default: 1)")
    run.add_argument("--confirm", choices=["ask", "allow", "deny"],
                     help="what to do with actions the safety policy wants confirmed: ask you here, "
                     "allow them, or deny them (default: ask on a terminal, deny otherwise)")
    run.add_argument("--dry-run", action="store_true", default=None,
                     help="show what would be done; touch neither mouse nor keyboard")
    run.add_argument("--monitor", help="which monitor to watch: primary (default), active, or a number")
    run.add_argument("--runs-dir", type=Path, help="where run folders go (default: runs/)")
    add_safety_options(run)
    add_common_options(run)

    ask = commands.add_parser(
        "ask", help="ask the model about an image, or where something is in it",
        description="Ask one question about an image file and print the answer. With --point, the model\n"
        "locates what the question describes and the point is printed in pixels of the image.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='examples:\n  run_agent.py ask screen.png "What is this dialog asking?"\n'
        '  run_agent.py ask screen.png "the Save button" --point --mode thinking',
    )
    ask.add_argument("image", type=Path, help="a PNG or JPEG file")
    ask.add_argument("question", help="a question, or (with --point) a description of the thing to find")
    ask.add_argument("--point", action="store_true", help="print the located point as X Y pixels of the image")
    add_model_options(ask)
    add_common_options(ask)

    record = commands.add_parser(
        "record", help="record a task you do by hand, to replay it later",
        description="Record what you do with the mouse and keyboard as steps that can be replayed: clicks\n"
        "with the screen and the patch around the pointer, typed text, hotkeys, scrolls, drags. Press\n"
        "the stop hotkey (ctrl+alt+esc) or Ctrl+C here to stop; every finished step is already saved.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  run_agent.py record invoice-entry --secret-window 'Log ?in'",
    )
    record.add_argument("name", help="the recording's name (letters, digits, '.', '_', '-')")
    record.add_argument("--secret-window", action="append", default=[], metavar="TITLE_REGEX",
                        help="text typed in a matching window is kept as a parameter, never stored (repeatable)")
    add_recording_options(record)

    replay = commands.add_parser(
        "replay", help="replay a recording, finding each target where it is now",
        description="Replay a recording: each step waits for its window, finds its target on the screen as it\n"
        "is now (the window may have moved), passes the safety gate and is done. A target that cannot be\n"
        "found for sure is not clicked: the replay asks you or stops.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='example:\n  run_agent.py replay invoice-entry --speed 2 --param customer="ACME"\n'
        "  run_agent.py replay invoice-entry --data rows.csv\n\n" + EXIT_CODES,
    )
    replay.add_argument("name", help="the recording to replay")
    replay.add_argument("--speed", type=float, default=1.0, help="faster than recorded by this factor (default: 1)")
    replay.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a value for a {NAME} in the typed text, or a secret parameter (repeatable)")
    replay.add_argument("--data", type=Path, help="a CSV or JSON-lines file: one replay per row, its columns as "
                        "parameters")
    replay.add_argument("--from-step", type=int, default=1, help="start at this step (default: 1)")
    replay.add_argument("--dry-run", action="store_true", default=None, help="find every target, touch nothing")
    replay.add_argument("--find-with-model", action="store_true",
                        help="when a target no longer looks as recorded, ask the model where it is (a person "
                        "approves what it finds); the model options below choose the model")
    replay.add_argument("--confirm", choices=["ask", "allow", "deny"], help="as for run")
    replay.add_argument("--runs-dir", type=Path, help="where run folders go (default: runs/)")
    add_safety_options(replay)
    add_model_options(replay)
    add_recording_options(replay)

    recordings = commands.add_parser(
        "recordings", help="list recordings, show one, or turn one into a task script",
        description="list: the recordings there are. show NAME: its steps and pictures (edit steps.jsonl to\n"
        "change them). to-task NAME: a reply script that run --script replays through the agent loop;\n"
        "with --describe the model also writes what the task is.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    recordings.add_argument("action", choices=["list", "show", "to-task"])
    recordings.add_argument("name", nargs="?", help="the recording (for show and to-task)")
    recordings.add_argument("--describe", action="store_true", help="to-task: let the model describe the task")
    add_model_options(recordings)
    add_recording_options(recordings)

    fill = commands.add_parser(
        "fill", help="fill a form in any app from data, row after row",
        description="Fill the form a spec describes (YAML: the window, each field's label, kind and value,\n"
        "the submit button), once per data row. Fields are found by their visible labels; every value is\n"
        "read back before the form is submitted, and submitting asks you first.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  run_agent.py fill contact_form.yaml --data people.csv\n\n" + EXIT_CODES,
    )
    fill.add_argument("spec", type=Path, help="the form spec (YAML)")
    fill.add_argument("--data", type=Path, help="rows to fill in: a CSV file (first line: column names) or JSON "
                      "lines; default: the spec's rows, or its values once")
    fill.add_argument("--locator", choices=["auto", "accessibility", "ocr", "model"], default="auto",
                      help="how fields are found: accessibility (the app's accessibility tree, GTK and Qt), ocr "
                      "(labels read on the screen), model (the model grounds each label), auto (default: each in "
                      "that order where the one before is unsure; the model only if one is chosen)")
    fill.add_argument("--stop-on-error", action="store_true", help="stop at the first row that fails")
    fill.add_argument("--confirm", choices=["ask", "allow", "deny"], help="as for run; submitting always asks")
    fill.add_argument("--dry-run", action="store_true", default=None, help="find every field, touch nothing")
    fill.add_argument("--runs-dir", type=Path, help="where run folders go (default: runs/)")
    add_safety_options(fill)
    add_model_options(fill)
    add_common_options(fill)

    demo = commands.add_parser(
        "demo", help="watch the agent fill a form on a virtual display (no GPU or model needed)",
        description="Start a virtual display with the bundled contact form and let the agent fill it in,\n"
        "with scripted replies in the real model's format. Prints what the form saved.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where the run folder goes")
    demo.add_argument("--fill", action="store_true",
                      help="fill the form from tasks/forms/contacts.csv with run_agent.py fill instead (no model)")

    evaluation = commands.add_parser(
        "eval", help="run a task suite (OSWorld's task format) and score it",
        description="Run every task of a suite, each on a fresh virtual display with a throwaway home, and\n"
        "score it as OSWorld does. Prints a table per domain; writes results.jsonl and report.html.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  run_agent.py eval suites/builtin --reference --parallel 4\n"
        "  run_agent.py eval path/to/osworld/examples --only os,libreoffice_calc --base-url http://localhost:8000/v1",
    )
    evaluation.add_argument("source", type=Path, help="a task file, or a folder of <domain>/<task>.json files")
    evaluation.add_argument("--only", help="comma-separated domains or task ids to run")
    evaluation.add_argument("--parallel", type=int, default=1, metavar="N", help="tasks at once (default: 1)")
    solver = evaluation.add_mutually_exclusive_group()
    solver.add_argument("--reference", action="store_true", help="replay each task's reference solution")
    solver.add_argument("--do-nothing", action="store_true", help="say 'done' at once (every task should score 0)")
    evaluation.add_argument("--task-timeout", type=float, metavar="SECONDS", help="time per task (default: the "
                          "task's x_timeout, else 300)")
    evaluation.add_argument("--shard", metavar="K/N", help="run every N-th task from the K-th on (one shard per "
                          "machine; see docs/EVALUATION.md)")
    evaluation.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", help="run the tasks on a Ray cluster "
                            "(default address: the one this machine is in), one per 'desktop' resource a node "
                            "advertises; see docs/EVALUATION.md")
    evaluation.add_argument("--max-steps", type=int, help="step budget per task (default: 30)")
    evaluation.add_argument("--runs-dir", type=Path, help="where the evaluation folder goes (default: runs/)")
    evaluation.add_argument("--files", type=Path, metavar="DIR", help="the download cache: a URL's file is "
                          "DIR/<sha256 of the URL>, fetched on first use (tasks that download need it)")
    add_model_options(evaluation)
    add_common_options(evaluation)

    ground = commands.add_parser(
        "ground-eval", help="measure grounding on ScreenSpot, ScreenSpot-v2 or ScreenSpot-Pro",
        description="Ask for a point on every annotated target of a ScreenSpot-style folder and report how\n"
        "often it falls inside the box: overall, text vs icon, per platform and group. --generate makes\n"
        "such a folder from the built-in suite's apps instead.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  run_agent.py ground-eval data/ScreenSpot-v2 --base-url http://localhost:8000/v1\n"
        "  run_agent.py ground-eval own-set --generate && run_agent.py ground-eval own-set --locator ocr",
    )
    ground.add_argument("source", type=Path, help="folder with the annotation files and images")
    ground.add_argument("--locator", choices=["model", "ocr"], default="model",
                        help="who points: the model (default) or Tesseract OCR matching the instruction's text")
    ground.add_argument("--limit", type=int, help="only the first N targets")
    ground.add_argument("--generate", action="store_true", help="write a set made from the built-in apps into SOURCE")
    ground.add_argument("--generate-pro", action="store_true", help="write a ScreenSpot-Pro-style set of small "
                        "marked targets on 2560x1440 screens into SOURCE (what --backend simulated finds)")
    ground.add_argument("--runs-dir", type=Path, help="where the results go (default: runs/)")
    add_model_options(ground)
    add_common_options(ground)

    report = commands.add_parser(
        "eval-report", help="the HTML report of an evaluation, or two side by side",
        description="Write the HTML report of an evaluation folder; given two, compare them per domain and\n"
        "per task (success, steps, seconds per step, first-text latency, tokens, memory, refusals).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  run_agent.py eval-report runs/eval-20261125-101500 runs/eval-20261125-113000",
    )
    report.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="one or two evaluation folders")
    report.add_argument("--output", type=Path, help="where the HTML goes")
    report.add_argument("--config", type=Path, help=argparse.SUPPRESS)

    serve = commands.add_parser(
        "serve", help="the web UI and HTTP API: chat with the model, run and supervise the agent",
        description="Serve the web page (chat with the model; start, watch, approve and stop agent runs,\n"
        "replays and form fills) and the HTTP API (/api/predict, OpenAI-compatible /v1/chat/completions, /api/runs;\n"
        "documented at /docs). One model is loaded and shared by all of them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  run_agent.py serve --mode thinking\n"
        "  run_agent.py serve --host 0.0.0.0 --token \"$(openssl rand -hex 16)\"",
    )
    add_server_options(serve, port=7860, asker="ask on the page", over="")
    add_safety_options(serve)
    add_model_options(serve)
    add_common_options(serve)

    mcp = commands.add_parser(
        "mcp", help="an MCP server: other assistants see and work this desktop through the same safety gate",
        description="Serve the Model Context Protocol: tools to take screenshots, do single actions, run the agent\n"
        "on a task, fill forms, replay recordings and read run folders. Every action passes the safety gate;\n"
        "what needs a person's approval is asked of the client's user (elicitation), or refused.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  run_agent.py mcp --base-url http://localhost:8000/v1\n"
        "  run_agent.py mcp --transport http --port 7861",
    )
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                     help="stdio (default: the client starts this command) or streamable HTTP at /mcp")
    add_server_options(mcp, port=7861, asker="ask the client's user", over="HTTP: ")
    add_safety_options(mcp)
    add_model_options(mcp)
    add_common_options(mcp)

    policy = commands.add_parser(
        "policy", help="test safety rules: what the gate decides for scripted actions",
        description="Put scripted actions through the safety gate and print its decisions, one JSON line per case.",
    )
    policy_commands = policy.add_subparsers(dest="policy_command", required=True, metavar="POLICY_COMMAND")
    check = policy_commands.add_parser(
        "check", help="decide each case of a JSON-lines file",
        description="Each line of CASES is one case: {\"id\": ..., \"window\": \"<active window title>\",\n"
        "\"actions\": [<computer_use arguments, grid coordinates on a 1280x800 screen>, ...]}. A case's actions go\n"
        "through one fresh gate in order, as consecutive steps of one run in that window. Printed per case:\n"
        "{\"id\": ..., \"decision\": \"allow\"|\"confirm\"|\"deny\", \"reason\": ...}, the strictest over its steps.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  run_agent.py policy check tests/redteam/cases.jsonl --policy my_rules.toml\n\n"
        "exit codes: 0 every case decided, 64 a case or the file could not be read (named on stderr)",
    )
    check.add_argument("cases", type=Path, metavar="CASES", help="a JSON-lines file of cases")
    check.add_argument("--policy", type=Path, help="a TOML file of safety rules added to the defaults")
    return parser


def add_model_options(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--backend", choices=["transformers", "openai", "scripted", "simulated"],
                       help="who answers: the model in this process (default), an OpenAI-compatible server "
                       "(default with --base-url), a reply file (default with --script), or a simulated grounder "
                       "whose error grows as targets shrink (for ground-eval --generate-pro sets)")
    model.add_argument("--profile", choices=profile_names(),
                       help="how the model is spoken to: qwen3-vl (default: Qwen's cookbook prompt, byte for byte), "
                       "agent-rules (this project's guidance), gui-owl-1.5 or ui-venus-1.5 (GUI fine-tunes)")
    model.add_argument("--refine", choices=["none", "zoom"],
                       help="zoom: ask again on an enlarged crop around each point (run, ask --point, ground-eval)")
    model.add_argument("--zoom-views", type=int, metavar="N",
                       help="with --refine zoom: crops to ask, shifted around the point; the median wins (default: 1)")
    model.add_argument("--mode", choices=["instruct", "thinking"],
                       help="Qwen3-VL variant: instruct (default, fast) or thinking (reasons before acting)")
    model.add_argument("--model", help="hub id or folder of the weights, or the model name on the server "
                       "(default: Qwen/Qwen3-VL-4B-Instruct or -Thinking)")
    model.add_argument("--quantize", choices=["4bit", "8bit"],
                       help="convert the weights at load: 8bit to FP8 (Ada or Hopper GPUs), 4bit to INT4")
    model.add_argument("--cpu-offload", action="store_true", default=None,
                       help="keep what does not fit on the GPU in CPU memory")
    model.add_argument("--gpu-memory", type=float, metavar="GIB", help="GPU memory for the weights with --cpu-offload")
    model.add_argument("--attn", choices=["sdpa", "flash_attention_2", "eager"],
                       help="transformers' attention kernels, for --decoder plain and --cpu-offload (default: sdpa)")
    model.add_argument("--decoder", choices=["fast", "plain"],
                       help="fast (default): static KV cache and CUDA graphs; plain: transformers' generate")
    model.add_argument("--batch", type=int, metavar="N",
                       help="replies the in-process model decodes together, for agents, web requests or eval tasks "
                       "at once (default: 8; each reply in flight holds its own KV cache)")
    model.add_argument("--max-new-tokens", type=int, help="longest reply in tokens (default: 1024, thinking 1536)")
    model.add_argument("--thinking-budget", type=int, metavar="TOKENS",
                       help="longest thought before the model must act (thinking mode; default: 1024)")
    model.add_argument("--temperature", type=float, help="sampling temperature; 0 = greedy (default: model card's)")
    model.add_argument("--top-p", type=float)
    model.add_argument("--top-k", type=int)
    model.add_argument("--presence-penalty", type=float)
    model.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://localhost:8000/v1 "
                       "(API key from AGENT_API_KEY or OPENAI_API_KEY)")
    model.add_argument("--timeout", type=float, dest="request_timeout", metavar="SECONDS",
                       help="how long to wait for the server (default: 120)")
    model.add_argument("--script", type=Path, help="reply file for the scripted backend")


def add_server_options(parser: argparse.ArgumentParser, port: int, asker: str, over: str) -> None:
    """What every server of this desktop takes: where it listens, its token, who is asked, and its
    defaults for the runs it starts (``over``: the transport the listening options are for)."""
    parser.add_argument("--host", default="127.0.0.1", help=f"{over}address to listen on (default: 127.0.0.1, this "
                        "machine only; any other needs --token)")
    parser.add_argument("--port", type=int, default=port, help=f"{over}port (default: {port})")
    parser.add_argument("--token", help=f"{over}access token clients must send (Authorization: Bearer TOKEN)")
    parser.add_argument("--confirm", choices=["ask", "allow", "deny"],
                        help=f"actions the safety policy wants confirmed: {asker} (default), allow or deny")
    parser.add_argument("--max-steps", type=int, help="default step budget of a run (default: 30)")
    parser.add_argument("--monitor", help="which monitor runs watch: primary (default), active, or a number")
    parser.add_argument("--runs-dir", type=Path, help="where run folders go, and are found (default: runs/)")
    parser.add_argument("--recordings-dir", type=Path, help="where recordings to replay are (default: recordings/)")


def add_safety_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", type=Path, help="a TOML file of safety rules added to the defaults")
    parser.add_argument("--sensitive-window", action="append", dest="sensitive_windows", metavar="TITLE_REGEX",
                        help="a window whose actions always need confirmation (repeatable)")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-pixels", type=int, help="pixel budget of the image the model sees (default: 1280*800)")
    parser.add_argument("--config", type=Path, help="a TOML settings file (default: ./agent.toml if present); "
                        "environment variables AGENT_<SETTING> work too")
    parser.add_argument("-v", "--verbose", action="store_const", const="DEBUG", dest="log_level",
                        help="log every detail")


def add_recording_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recordings-dir", type=Path, help="where recordings are kept (default: recordings/)")
    parser.add_argument("--config", type=Path, help="a TOML settings file (default: ./agent.toml if present)")
    parser.add_argument("-v", "--verbose", action="store_const", const="DEBUG", dest="log_level",
                        help="log every detail")


def configure_logging(level: str) -> None:
    logger.remove()
    logger.add(sys.stderr, level=level, format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}")


def ask_about_image(settings: Settings, path: Path, question: str, point: bool) -> int:
    from PIL import Image, UnidentifiedImageError

    from agent.backends import make_backend
    from agent.profiles import load_profile
    from agent.reply import ReplyError
    from tasks.commands.ask import ask

    try:
        image = Image.open(path)
        image.load()
    except (OSError, UnidentifiedImageError) as error:
        raise SettingsError(f"cannot read the image {path}: {error}") from None
    try:
        answer = ask(make_backend(settings), image, question, settings.sampling(), point=point,
                     profile=load_profile(settings.profile), zoom=settings.zoom())
    except ReplyError as error:
        print(f"run_agent.py: {error}", file=sys.stderr)
        return 1
    if answer.thought:
        logger.info("thought: {}", answer.thought)
    print(f"{answer.point[0]} {answer.point[1]}" if answer.point else answer.text)
    return 0


NOT_SETTINGS = {"command", "instruction", "config", "image", "question", "point", "name", "secret_window", "speed",
                "param", "data", "from_step", "action", "describe", "find_with_model",
                "source", "only", "parallel", "reference", "do_nothing", "task_timeout", "files", "locator", "limit",
                "generate", "generate_pro", "runs", "output", "shard", "host", "port", "token", "spec", "stop_on_error", "transport", "ray"}
"""Command-line arguments that are not settings."""


def record_or_replay(settings: Settings, args: argparse.Namespace) -> int:
    from tasks.recordings import record_replay

    if args.command == "record":
        return record_replay.record(settings, args.name, args.secret_window)
    if args.command == "replay":
        return record_replay.replay(settings, args.name, args.param, args.data, args.speed, args.from_step,
                                    args.find_with_model)
    if args.action == "list":
        return record_replay.list_recordings(settings)
    if args.name is None:
        raise SettingsError(f"recordings {args.action} needs the recording's name")
    if args.action == "show":
        return record_replay.show(settings, args.name)
    return record_replay.to_task(settings, args.name, args.describe)


def shard(text: str | None) -> tuple[int, int] | None:
    """``K/N`` as (K, N), 1 <= K <= N."""
    if text is None:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise SettingsError(f"--shard takes K/N with 1 <= K <= N, e.g. 2/4, not {text!r}")
    return int(k), int(n)


def evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from evaluation import grounding, report, results, suite
    from evaluation.own_set import make_own_set

    if args.command == "eval":
        solver = "reference" if args.reference else "nothing" if args.do_nothing else "model"
        only = [name.strip() for name in (args.only or "").split(",") if name.strip()]
        try:
            suite.run_suite(settings, args.source, only, args.parallel, solver, args.task_timeout, shard(args.shard),
                            args.files, args.ray)
        except KeyboardInterrupt as stop:
            print(f"run_agent.py: {stop or 'stopped'}", file=sys.stderr)
            return 130
    elif args.command == "ground-eval" and args.generate_pro:
        from agent.backends.simulated import write_pro_set

        print(f"{write_pro_set(args.source)} targets written to {args.source}")
    elif args.command == "ground-eval" and args.generate:
        print(f"{make_own_set(args.source)} targets written to {args.source}")
    elif args.command == "ground-eval":
        grounding.run_grounding(settings, args.source, args.locator, args.limit)
    elif len(args.runs) == 1:
        print(results.summary_table(results.load(args.runs[0])))
        print(f"Report: {report.write(args.runs[0], args.output)}")
    elif len(args.runs) == 2:
        a, b = args.runs
        print(f"A = {a}\nB = {b}\n" + results.comparison_table(results.load(a), results.load(b), ("A", "B")))
        print(f"Report: {report.write_comparison(a, b, args.output or a / f'compare-{b.name}.html')}")
    else:
        raise SettingsError("eval-report takes one evaluation folder, or two to compare")
    return 0


def check_policy(cases: Path, policy_file: Path | None) -> int:
    import json

    from safety.check import CaseError, check_cases
    from safety.policy import Policy

    policy = Policy.load(policy_file)
    failed = False
    try:
        for result in check_cases(cases, policy):
            if "error" in result:
                failed = True
                print(f"run_agent.py: {cases}: {result['error']}", file=sys.stderr)
            else:
                print(json.dumps(result, ensure_ascii=False), flush=True)
    except CaseError as error:
        print(f"run_agent.py: {error}", file=sys.stderr)
        return 64
    return 64 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agent.settings import load_settings
    from errors import AgentError

    try:
        if args.command == "policy":
            return check_policy(args.cases, args.policy)
        if args.command == "demo":
            configure_logging("INFO")
            from tasks.demo import run_demo, run_fill_demo

            return run_fill_demo(args.runs_dir) if args.fill else run_demo(args.runs_dir)
        options = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
        settings = load_settings(args.config, **options)
        configure_logging(settings.log_level)
        if args.command == "ask":
            return ask_about_image(settings, args.image, args.question, args.point)
        if args.command in ("record", "replay", "recordings"):
            return record_or_replay(settings, args)
        if args.command == "fill":
            from tasks.forms.fill import fill_command

            return fill_command(settings, args.spec, args.data, args.locator, args.stop_on_error)
        if args.command in ("eval", "ground-eval", "eval-report"):
            return evaluate(settings, args)
        if args.command == "serve":
            from webui.server import serve

            return serve(settings, args.host, args.port, args.token)
        if args.command == "mcp":
            from mcp_server.server import serve_mcp

            return serve_mcp(settings, args.transport, args.host, args.port, args.token)
        from agent.progress import ConsoleProgress
        from tasks.commands.run import run_command

        result = run_command(settings, args.instruction, observers=(ConsoleProgress(),))
        if result.answer is not None:
            print(result.answer)
        return result.exit_code
    except AgentError as error:  # errors.py: the tree, and the exit code of each branch
        print(f"run_agent.py: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # a bug of ours or of a library is a system error too, not Python's exit 1
        logger.opt(exception=error).critical("unexpected error: {}: {}", type(error).__name__, error)
        return 70


if __name__ == "__main__":
    sys.exit(main())
