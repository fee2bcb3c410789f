"""Command line: the tray app by default (`--toggle`: start or end a conversation in the
running one; `--smoke-test`: a headless self-check), plus converse, serve, download, testkit, voices, doctor.

Heavy imports happen inside each command so the tray starts without loading torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from .core import modes
from .core.errors import ArcusError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arcus-desktop", description=(
        "Arcus Desktop: talk with a full-duplex voice assistant. Without a command it starts "
        "the tray app."))
    p.add_argument("--toggle", action="store_true", help=(
        "start or end a conversation in the running app (bind this to a key in your "
        "desktop's keyboard settings where the app's own hotkey does not work)"))
    p.add_argument("--smoke-test", action="store_true", help=(
        "check headless that this install works (libraries, database, audio, the engine on "
        "a tiny test model, the windows) and print one success line"))
    # Started from the menu or at login (the desktop entry): a failed start is said in a
    # window too, not only on a terminal no one sees.
    p.add_argument("--window-errors", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", dest="app_model_dir", metavar="DIR", help=(
        "the folder that holds PersonaPlex's files (checked first): the tray app keeps it as "
        "Settings > Engine > Model folder; before a command, the same as that command's "
        "--model-dir"))
    sub = p.add_subparsers(dest="command")

    c = sub.add_parser("converse", help="hold a conversation with a recording, or --live")
    c.add_argument("--input", help="the user's side: any WAV/FLAC/MP3/OGG")
    c.add_argument("--output", help="WAV file for the assistant's side")
    c.add_argument("--transcript", help="JSON file for the assistant's words (and the user's, with a "
                        "speech-to-text model)")
    c.add_argument("--live", action="store_true",
                   help="talk through the microphone and speaker instead of files")
    c.add_argument("--seconds", type=float, help="with --live: end after this long")
    c.add_argument("--input-device", help="with --live: microphone name (default: the system's)")
    c.add_argument("--output-device", help="with --live: speaker name (default: the system's)")
    c.add_argument("--no-echo-cancellation", action="store_true",
                   help="with --live: for headsets, where the microphone cannot hear the speaker")
    voice = c.add_mutually_exclusive_group()
    voice.add_argument("--voice", default="NATF2", help="preset voice name (default NATF2)")
    voice.add_argument("--voice-wav", help="your own voice recording")
    role = c.add_mutually_exclusive_group()
    role.add_argument("--persona", help="the assistant's role, as text")
    role.add_argument("--persona-file", help="a text file with the assistant's role")
    c.add_argument("--model-dir", help="checkpoint folder (default: the downloaded model)")
    stt = c.add_mutually_exclusive_group()
    stt.add_argument("--stt-dir", help="speech-to-text model folder for the user's words "
                     "(default: the downloaded one, if any)")
    stt.add_argument("--no-stt", action="store_true", help="leave the user's words out")
    c.add_argument("--device", default="auto", help="auto, cpu or cuda")
    c.add_argument("--mode", default=modes.AUTO, choices=(modes.AUTO, *modes.LOCAL),
                   help="weights in full precision or 8/4-bit, or streamed from main memory "
                        "(offload: int8, slow; auto: what fits the GPU)")
    c.add_argument("--seed", type=int, default=None)
    c.add_argument("--temperature", type=float, default=0.8, help="audio sampling temperature")
    c.add_argument("--top-k", type=int, default=250, help="audio top-k")
    c.add_argument("--text-temperature", type=float, default=0.7)
    c.add_argument("--text-top-k", type=int, default=25)
    c.add_argument("--greedy", action="store_true", help="always take the most likely token")
    c.add_argument("--budget", type=int, default=200, help="token budget of the role text")
    c.add_argument("--truncate", action="store_true", help="cut an over-long role instead of failing")
    c.add_argument("--recall", nargs="?", const="", metavar="TOPIC",
                   help="put memories about TOPIC (default: the last conversation) into the persona")
    c.add_argument("--remember", action="store_true",
                   help="keep this conversation in the memory store")

    sv = sub.add_parser("serve", help="the team server: many conversations on this GPU over "
                        "PersonaPlex's websocket protocol (docs/PROTOCOL.md)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this "
                    "computer only; anything else needs a token and --ssl)")
    sv.add_argument("--port", type=int, default=8998)
    sv.add_argument("--ssl", metavar="DIR", help="folder with cert.pem and key.pem: serve https/wss")
    sv.add_argument("--make-cert", metavar="DIR", help="write a self-signed cert.pem and key.pem "
                    "into DIR for this host (plus --cert-name names) and exit")
    sv.add_argument("--cert-name", action="append", default=[], metavar="NAME",
                    help="with --make-cert: another host name or IP address clients use")
    token = sv.add_mutually_exclusive_group()
    token.add_argument("--token", help="the token clients must send (visible to other local "
                       "users in the process list: prefer --token-file or $ARCUS_SERVER_TOKEN)")
    token.add_argument("--token-file", help="a file holding the token")
    sv.add_argument("--max-sessions", type=int, default=8,
                    help="conversations at once (each holds about 1.5 GiB of GPU memory)")
    sv.add_argument("--prompt-budget", type=int, default=200, help="token budget of a persona's role")
    sv.add_argument("--codec-workers", type=int, default=None, metavar="N",
                    help="processes that code the conversations' Opus (default: half the "
                    "cores, 1 to 8; 0: in the server's own process)")
    sv.add_argument("--model-dir", help="checkpoint folder (default: the downloaded model)")
    sv.add_argument("--device", default="auto", help="auto, cpu or cuda")
    sv.add_argument("--mode", default=modes.BF16, choices=modes.PRECISIONS,
                    help="weights in full precision or 8/4-bit")
    sv.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                    help="change one of the server's limits (docs/PROTOCOL.md, Server limits), "
                    "e.g. --limit idle_s=60")
    sv.add_argument("--agent-port", type=int, metavar="PORT",
                    help="answer a load balancer's agent check (HAProxy: weight from free "
                    "slots, drain, down) and readiness probes (HTTP GET: 200 or 503) on PORT")
    sv.add_argument("--agent-host", default="127.0.0.1", metavar="ADDR",
                    help="address for --agent-port (default: this computer only)")
    ss = sv.add_mutually_exclusive_group()
    ss.add_argument("--stt-dir", help="speech-to-text model folder for the users' words")
    ss.add_argument("--no-stt", action="store_true", help="no user transcript")

    d = sub.add_parser("download", help="download PersonaPlex-7B from Hugging Face")
    d.add_argument("--model-dir", help="download into this folder instead of the HF cache")
    d.add_argument("--stt", action="store_true",
                   help="download Kyutai's speech-to-text model (the user's words) instead")
    d.add_argument("--token", help="Hugging Face token (default: keyring, then HF_TOKEN)")
    d.add_argument("--save-token", action="store_true", help="keep --token in the OS keyring")

    t = sub.add_parser("testkit", help="write a tiny random-weight checkpoint for tests")
    t.add_argument("--out", "--model-dir", dest="out", metavar="DIR",
                   help="the folder to write it into")
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--dep-steps", type=int, choices=(8, 16), default=16,
                   help="depformer steps stored (16 like PersonaPlex, 8 like older files)")
    t.add_argument("--stt-out", help="also write a tiny speech-to-text model here (for --stt-dir)")

    v = sub.add_parser("voices", help="list the preset voices")
    v.add_argument("--model-dir")

    dr = sub.add_parser("doctor", help="report what this machine offers the app")
    dr.add_argument("--model-dir", help="report on this model folder (default: the downloaded "
                    "model)")

    s = sub.add_parser("sync", help="memory sync with a team's Supabase project")
    s_sub = s.add_subparsers(dest="sync_command", required=True)
    s_sub.add_parser("print-schema", help="print the SQL to apply to the Supabase project")
    return p


def _persona(args):
    from .core.persona import ARCUS_COMPANION, Persona

    text = ARCUS_COMPANION
    if args.persona_file:
        try:
            text = Path(args.persona_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ArcusError(f"The persona file {args.persona_file} cannot be read.",
                             "Pass a UTF-8 text file.") from e
    elif args.persona is not None:
        text = args.persona
    return Persona(text=text, voice=args.voice, voice_file=args.voice_wav,
                   token_budget=args.budget, truncate=args.truncate)


def cmd_converse(args) -> int:
    from .core.errors import PromptTooLongError

    try:
        return _converse(args)
    except PromptTooLongError as e:  # its hint names the GUI's setting: name the options
        if args.truncate:  # even the shortest cut does not fit
            raise ArcusError(e.message, f"Raise the budget with --budget {e.tokens} or "
                             "more.") from e
        over = e.tokens - e.budget
        raise ArcusError(e.message, f"Shorten it by about {over} tokens, raise the budget "
                         f"with --budget {e.tokens}, or cut it to fit with --truncate.") from e


def _converse(args) -> int:
    from .engine.conversation import converse
    from .engine.engine import Engine
    from .engine.generator import Sampling

    missing = [f"--{n}" for n in ("input", "output", "transcript") if not getattr(args, n)]
    if missing and not args.live:
        raise ArcusError(f"converse needs {', '.join(missing)}.",
                         "Give a recording and where to write the reply, or use --live.")
    persona = _persona(args)
    mode, context = _mode(args)
    engine = Engine.load(args.model_dir, args.device, quant_mode=mode, context=context,
                         stt_dir=args.stt_dir, user_words=not args.no_stt)
    sampling = Sampling(args.temperature, args.top_k, args.text_temperature, args.text_top_k,
                        greedy=args.greedy)
    store = _memory_store() if args.recall is not None or args.remember else None
    if args.recall is not None:
        persona = _recall_into(store, persona, args.recall, engine.tokenizer)
    if args.live:
        return _converse_live(args, engine, persona, sampling)
    result = converse(engine, args.input, args.output, args.transcript, persona, sampling,
                      seed=args.seed)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.remember:
        _remember(store, persona, args.output, result.transcript, result.user)
    print(f"{result.seconds:.1f} s of conversation, {result.frames} frames: "
          f"persona {result.prefill_ms:.0f} ms, frame p50 {result.frame_ms_p50:.1f} ms, "
          f"p99 {result.frame_ms_p99:.1f} ms on {engine.device.type}")
    print(f"wrote {args.output} and {args.transcript}")
    return 0


def _converse_live(args, engine, persona, sampling) -> int:
    from .engine import live

    frames, stats = live.run(engine, persona, sampling, args.seconds, args.input_device,
                             args.output_device, not args.no_echo_cancellation)
    print(f"{frames} frames", end="", file=sys.stderr)
    if stats:
        print(f": p50 {stats.compute_ms_p50:.1f} ms per 80 ms frame, speaker underruns "
              f"{stats.playback_underruns} samples, microphone overruns "
              f"{stats.capture_overruns} samples", end="", file=sys.stderr)
    print(file=sys.stderr)
    return 0


def _mode(args) -> tuple[str, int | None]:
    """The weights' precision: as asked, or what fits this GPU."""
    from .core.errors import DeviceError
    from .engine.modes import detect
    from .engine.torch_env import pick_device

    if args.mode != modes.AUTO or pick_device(args.device).type != "cuda":
        return (modes.BF16 if args.mode == modes.AUTO else args.mode), None
    choice = detect()
    if choice.mode == modes.SERVER:
        raise DeviceError(choice.note, "Or run with --device cpu (far slower than real time).")
    if choice.mode != modes.BF16:
        print(f"note: {choice.note}", file=sys.stderr)
    return choice.mode, choice.context


def _memory_store():
    from .memory.store import MemoryStore

    store = MemoryStore()
    for notice in store.notices:
        print(f"note: {notice}", file=sys.stderr)
    return store


def _recall_into(store, persona, topic: str, tokenizer):
    from dataclasses import replace

    from .memory import context

    ctx = context.for_topic(store, persona.text, tokenizer, persona.token_budget, topic)
    print(f"memory: recalled {len(ctx.facts)} facts and {len(ctx.style)} preferences "
          f"({ctx.tokens}/{ctx.budget} tokens"
          + (f"; {len(ctx.left_out)} left out for the budget)" if ctx.left_out else ")"),
          file=sys.stderr)
    for line in ctx.explain():  # which ones and why, so wrong ones can be pinned or deleted
        print(f"  {line}", file=sys.stderr)
    return replace(persona, text=ctx.text)


def _remember(store, persona, recording: str, transcript, user=None) -> None:
    from .memory.capture import ConversationCapture, turns_from_words

    capture = ConversationCapture(store, persona=persona.text,
                                  recording_path=str(Path(recording).resolve()))
    turns = turns_from_words(transcript.words, "assistant")
    if user is not None:
        turns += turns_from_words(user.words, "user")
    for turn in sorted(turns, key=lambda t: t.start):
        capture.add_turn(turn)
    capture.finish()
    if user is None:
        print(f"memory: kept {len(capture.turns)} turns of the assistant's side; the user's "
              "words need a speech-to-text model (`arcus-desktop download --stt`)", file=sys.stderr)
    else:
        print(f"memory: kept {len(capture.turns)} turns of both sides", file=sys.stderr)


def cmd_serve(args) -> int:
    from .server import config as server_config

    if args.make_cert:
        from .server.tls import make_cert

        fingerprint = make_cert(Path(args.make_cert), args.cert_name)
        print(f"wrote {args.make_cert}/cert.pem and key.pem (self-signed)")
        print(f"SHA-256 fingerprint: {fingerprint}")
        print("Give this fingerprint to your team by a channel they trust (chat, email, in "
              "person): in Arcus they enter it in Settings > Engine > Team server > "
              "Certificate fingerprint, or compare it when the app offers to trust the "
              "certificate.")
        print(f"Then serve with --ssl {args.make_cert}")
        return 0
    config = server_config.ServerConfig(
        host=args.host, port=args.port, ssl_dir=Path(args.ssl) if args.ssl else None,
        token=server_config.read_token(args.token, args.token_file),
        max_sessions=args.max_sessions, prompt_budget=args.prompt_budget,
        codec_workers=args.codec_workers,
        agent_host=args.agent_host, agent_port=args.agent_port)
    for assignment in args.limit:
        server_config.set_limit(config.limits, assignment)
    server_config.check(config)  # before the long load
    # The event loop (websockets, Opus) runs next to the model: torch's worker threads
    # spinning on every core starve it (as in the engine host). Set before torch loads.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    from .server.run import open_server, serve

    server = open_server(config, args.model_dir, args.device, args.mode, stt_dir=args.stt_dir,
                         user_words=not args.no_stt)
    serve(server)
    return 0


def cmd_download(args) -> int:
    from .engine.download import download_model

    if args.save_token and args.token:
        from .settings.secrets import set_hf_token

        set_hf_token(args.token)
    from tqdm import tqdm

    bars: list[tqdm] = []  # made at the first report, once the total is known

    def progress(p) -> None:
        if not bars:  # the speed is the reporter's: files already on disk do not count
            bars.append(tqdm(total=p.total, unit="B", unit_scale=True, unit_divisor=1024,
                             file=sys.stderr, dynamic_ncols=True,
                             bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix}"))
        speed = tqdm.format_sizeof(p.speed, "B/s", 1024)
        bars[0].set_postfix_str(f"{speed}  {p.filename}", refresh=False)
        bars[0].update(p.done - bars[0].n)

    try:
        if args.stt:
            from .engine.download import STT_REPO_ID

            path = download_model(STT_REPO_ID, token=args.token, local_dir=args.model_dir,
                                  progress=progress)
            what = "speech-to-text model"
        else:
            path = download_model(token=args.token, local_dir=args.model_dir, progress=progress)
            what = "model"
    finally:
        for bar in bars:
            bar.close()
    print(f"{what} ready in {path}", file=sys.stderr)
    return 0


def cmd_testkit(args) -> int:
    from .engine import testkit

    if not args.out:
        raise ArcusError("testkit needs a folder to write into.", "Pass --out DIR.")
    out = testkit.write(args.out, seed=args.seed, dep_steps=args.dep_steps)
    print(f"wrote a tiny test checkpoint to {out}")
    if args.stt_out:
        stt = testkit.write_stt(args.stt_out, seed=args.seed)
        print(f"wrote a tiny speech-to-text checkpoint to {stt}")
    return 0


def cmd_voices(args) -> int:
    from .engine import checkpoint
    from .engine.voices import VoiceLibrary
    from .settings.app_settings import describe_voice

    from .doctor import saved_model_dir

    # Without --model-dir, where the app looks: the Model folder saved in Settings.
    files = checkpoint.locate(args.model_dir or saved_model_dir())
    for name in VoiceLibrary(files.voices).names():
        print(describe_voice(name).label)  # as Settings > Voice lists it
    return 0


def cmd_doctor(args) -> int:
    from .doctor import report

    for key, value in report(args.model_dir):
        print(f"{key:<22} {value}")
    return 0


def cmd_sync(args) -> int:
    from .sync.schema import schema_sql

    if args.sync_command == "print-schema":
        sys.stdout.write(schema_sql())
    return 0


def cmd_app(args) -> int:
    if args.toggle:
        return cmd_toggle(args)
    model_dir = None
    if args.app_model_dir is not None:
        model_dir = _checked_model_dir(args.app_model_dir)
    from .ui.app import run

    return run(model_dir=model_dir)


def _checked_model_dir(folder: str) -> str:
    """The tray app's --model-dir, as a full path, once its files look right (layout and
    structure; the wizard and Settings also check checksums on request)."""
    from .bridge.model_folder import check_folder

    result = check_folder(folder)
    if not result.ok:
        raise ArcusError(f"The model folder {result.folder} cannot be used: "
                         + " ".join(result.problems), result.hint)
    return str(Path(folder).expanduser().resolve())


def cmd_toggle(args) -> int:
    from .bridge import single_instance

    try:
        reply = single_instance.send("toggle")
    except single_instance.NotRunning:
        raise ArcusError("Arcus Desktop is not running, so there is no conversation to "
                         "start or end.",
                         "Start it with `arcus-desktop`; --toggle then starts and ends "
                         "conversations in it.") from None
    except single_instance.NotResponding:
        raise ArcusError("Arcus Desktop is running but does not respond.",
                         "Quit it (or end its process), then start it again.") from None
    if not reply.ok:
        raise ArcusError(f"Arcus Desktop could not do that: {reply.message}")
    print(reply.message)
    return 0


# Commands that run the model on this computer: not in Arcus Desktop Client.
MODEL_COMMANDS = ("converse", "serve", "testkit", "voices")


def _client_refuses(command: str | None) -> None:
    from .core import flavour

    if command in MODEL_COMMANDS and flavour.is_client():
        raise ArcusError(f"`arcus-desktop {command}` runs the model on this computer, and "
                         "Arcus Desktop Client has no model: it talks to your team's server.",
                         f"To run the model here, {flavour.WHERE_FULL}.")


COMMANDS = {"converse": cmd_converse, "serve": cmd_serve, "download": cmd_download, "testkit": cmd_testkit,
            "voices": cmd_voices, "doctor": cmd_doctor, "sync": cmd_sync, None: cmd_app}


def _log_crash() -> Path | None:
    try:
        from .core import paths

        log = paths.data_dir() / "logs" / "crash.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{traceback.format_exc()}\n")
        return log
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    from .engine import WARM_KERNELS_FLAG

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [WARM_KERNELS_FLAG]:  # the engine's child; the client has no such module
        from .engine import kernel_warmup

        return kernel_warmup.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.toggle and (args.command is not None or args.app_model_dir is not None):
        parser.error("--toggle goes alone: it talks to the running app")
    if args.app_model_dir is not None and args.command is not None:
        if args.command == "testkit":
            args.out = args.out or args.app_model_dir
        elif not hasattr(args, "model_dir"):
            parser.error(f"{args.command} does not use a model folder: leave --model-dir out")
        elif args.model_dir is None:
            args.model_dir = args.app_model_dir
    if args.smoke_test:
        if args.command is not None or args.toggle or args.app_model_dir is not None:
            parser.error("--smoke-test goes alone")
        from .smoke import run as smoke_test

        return smoke_test()  # reports its own failures, tracebacks included
    try:
        _client_refuses(args.command)
        return COMMANDS[args.command](args)
    except ArcusError as e:
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"  {e.hint}", file=sys.stderr)
        _in_window(args, e.message, e.hint)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: the computer ran out of memory.", file=sys.stderr)
        print("  Close other programs, or use a smaller input.", file=sys.stderr)
        return 2
    except Exception as e:  # the last line of defence: no traceback for the user
        if type(e).__name__ == "OutOfMemoryError":  # torch's, named so torch stays unimported
            print("error: the GPU ran out of memory.", file=sys.stderr)
            print("  Close other programs that use the GPU, or run with --device cpu.", file=sys.stderr)
            return 2
        if isinstance(e, OSError) and e.filename and e.strerror:  # a path given or made
            print(f"error: {e.filename}: {e.strerror}.", file=sys.stderr)
            print("  Check the path, its permissions and its disk's free space.", file=sys.stderr)
            _in_window(args, f"{e.filename}: {e.strerror}.",
                       "Check the path, its permissions and its disk's free space.")
            return 2
        log = _log_crash()
        print(f"error: something unexpected went wrong ({type(e).__name__}: {e}).", file=sys.stderr)
        if log:
            print(f"  Details were saved to {log}; please include it in a bug report.", file=sys.stderr)
        _in_window(args, f"Arcus Desktop could not start: something unexpected went wrong "
                         f"({type(e).__name__}).",
                   f"Details were saved to {log}; please include it in a bug report."
                   if log else "Start it from a terminal to see the details.")
        return 1


def _in_window(args, message: str, hint: str) -> None:
    """The tray app's failed start, also in a window when no terminal shows it."""
    if args.command is not None or args.toggle:
        return
    if not args.window_errors and sys.stderr is not None:
        return
    try:
        from .ui import startup_error

        startup_error.show(message, hint)
    except Exception:  # no display either: what was printed is all there is
        pass
