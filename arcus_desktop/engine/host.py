"""The engine's own process: model and audio together, so the real-time path never
crosses a process boundary and a crash or out-of-memory error cannot take the app down.
Commands come in on one pipe, events go out on another (see core/events.py).

Commands: ("start", {"persona": {...}, "sampling": {...}, "seed": n, "conversation": id,
"offset": seconds, "persona_name": str}), ("devices", (input name, output name)),
("stop", None), ("mute", bool), ("volume", float), ("shutdown", None),
("preview", {"voice": name, "seconds": s}): a preset voice's sample, answered with a
VoiceSample event (between conversations only: during one it is refused)."""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass

import numpy as np

from ..core import app_log
from ..core.command_loop import Controls, serve_commands
from ..core.errors import ArcusError, DeviceError
from ..core.events import (DeviceChanged, EngineFailed, FrameStats, Levels, Loading, Notice,
                           RecordingStarted, RecordingStopped, StateChanged, TextPiece,
                           VoiceSample)
from ..core.modes import BF16, CPU, LOCAL, SERVER
from ..core.persona import Persona
from .checkpoint import APP_REDOWNLOAD_HINT, REDOWNLOAD_HINT
from .event_sender import EventSender

log = logging.getLogger(__name__)
STATS_EVERY = 25  # frames (2 s)
EXIT_TOLD = 3  # ended on an error the user was told about: restarting would not help
FRAME_S = 0.08
# Fault injection for the tests: raise inside the frame loop at this frame.
FAULT_ENV = "ARCUS_FAULT_AT_FRAME"


@dataclass
class HostConfig:
    model_dir: str | None = None
    stt_dir: str | None = None  # the speech-to-text model; default: the downloaded one
    device: str = "auto"
    quant_mode: str = BF16  # a core.modes name: LOCAL, AUTO (what fits the GPU) or CPU
    input_device: object = None
    output_device: object = None
    echo_cancellation: bool = True


def main(config: HostConfig, commands, connection) -> None:
    """The process's entry point (spawned: nothing is inherited from the app)."""
    # Audio threads run next to the model here: torch's worker threads spinning on every
    # core starve them (a CPU frame went from 10 ms to over 200 ms). Set before torch loads.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
    app_log.start()  # the app's log file: "the details are in the log" means this one
    run_process(_serve, config, commands, connection, "The engine")


def run_process(serve, config, commands, connection, name: str) -> None:
    """An engine process's life around `serve(config, commands, events)`: its events
    flushed however it ends, and every failure told (also the remote engine's)."""
    events = EventSender(connection)
    try:
        serve(config, commands, events)
    except Exception as e:
        told = e if isinstance(e, ArcusError) else out_of_memory(e)
        if told is not None:  # no model, no device, no address: a way forward, no retry
            events.send(EngineFailed(told.message, app_hint(told)))
            events.close()
            raise SystemExit(EXIT_TOLD) from None
        # A bug or a device fault: the process ends and is restarted. The traceback goes
        # to this process's log, once (not again by multiprocessing): never to the user.
        log.exception("%s stopped", name)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        events.send(EngineFailed(f"{name} stopped: {type(e).__name__}: {first}",
                                 "It is restarting."))
        events.close()
        raise SystemExit(1) from None
    events.close()


def out_of_memory(e: BaseException) -> DeviceError | None:
    """torch's CUDA out-of-memory error as a way forward (by name: the remote engine's
    process runs this too, without torch); None for any other error."""
    if type(e).__name__ != "OutOfMemoryError":
        return None
    return DeviceError("The GPU ran out of memory.",
                       "Choose a lower-memory engine mode or a team server in Settings > "
                       "Engine, or close other programs that use the GPU, then talk again.")


def app_hint(e: ArcusError) -> str:
    """The error's hint in the app's words: a damaged or incomplete model is fetched
    again by setup (the command line's way is `arcus-desktop download`)."""
    return e.hint.replace(REDOWNLOAD_HINT, APP_REDOWNLOAD_HINT)


def _serve(config: HostConfig, commands, events: EventSender) -> None:
    from ..core import flavour

    if flavour.is_client():  # settings from a full install, or set by hand
        raise ArcusError("Arcus Desktop Client cannot run the model on this computer: "
                         "it talks to your team's server.",
                         "Choose Team server in Settings > Engine; to run the model here, "
                         f"{flavour.WHERE_FULL}.")
    from .engine import Engine
    events.send(StateChanged("loading"))
    mode, context = _mode(config, events)
    engine = Engine.load(config.model_dir, config.device, quant_mode=mode, context=context,
                         stt_dir=config.stt_dir, progress=_loading_reporter(events))
    events.send(Loading(1.0, "Ready"))
    _claim_samples(engine)
    if engine.stt is None and engine.stt_note:
        # The app's engine: the app has the way forward (the command line says its own).
        events.send(Notice(engine.stt_note, "Settings > Engine > Speech-to-text downloads it "
                                            "(about 2.5 GB)."))
    events.send(StateChanged("ready"))
    if engine.device.type == "cuda":
        # Off the path to the first word: the GPU's libraries start and the frame graph is
        # captured now, kept for the first conversation (a start sent meanwhile waits).
        from .generator import Sampling

        try:
            engine.warm_up(sampling=Sampling(), keep=True)
        except Exception:  # the first conversation meets it again and says what to do
            engine.release_loop()
    controls = Controls(config)
    serve_commands(commands, events, controls,
                   lambda start: _talk(engine, config, start, controls, commands, events),
                   preview=lambda arg: _preview(engine, arg))


def _preview(engine, arg: dict):
    from .preview import make_sample

    return make_sample(engine, arg)


def _claim_samples(engine) -> None:
    from ..core import previews

    previews.claim(engine.identity)


def _talk(engine, config: HostConfig, start: dict, controls: Controls, commands,
          events: EventSender) -> str:
    """One conversation on the devices; the command that ended it."""
    from .engine import seed_everything
    from .frame_loop import FrameLoop
    from .generator import Sampling

    persona = Persona(**(start.get("persona") or {}))
    sampling = Sampling(**(start.get("sampling") or {}))
    prepared = engine.prepare(persona)  # a bad voice file fails here, before the devices
    seed_everything(start.get("seed"))
    return talk_on_devices(lambda: FrameLoop(engine, prepared, sampling, keep_warm=True), config,
                           start, controls, commands, events)


def talk_on_devices(open_loop, config, start: dict, controls: Controls, commands,
                    events: EventSender, on_stuck=None) -> str:
    """A conversation on the devices `config` names (both engine processes): the loop
    `open_loop()` gives runs once they are open; mute and volume come from `controls` and
    go back to it. `on_stuck()` runs before leaving for a stream that would not close."""
    from ..audio.duplex import DuplexAudio
    from ..audio.echo import EchoCanceller

    def notice(n) -> None:
        events.send(DeviceChanged(n.reason, n.message, n.input_name, n.output_name))

    audio = DuplexAudio(config.input_device, config.output_device,
                        EchoCanceller(enabled=config.echo_cancellation), on_notice=notice)
    try:
        with audio, open_loop() as loop:
            audio.muted, audio.volume = controls.muted, controls.volume
            events.send(StateChanged("talking", start.get("conversation") or ""))
            stop = converse_live(loop, audio, commands, events, float(start.get("offset", 0)),
                                 persona_name=start.get("persona_name", ""),
                                 on_devices=controls.devices)
    except Exception as e:
        # The GPU's memory running out mid-conversation ends this conversation only, told:
        # the same conversation resumed by a new process would run out again.
        told = e if isinstance(e, ArcusError) else out_of_memory(e)
        if told is None:
            raise
        if audio.stuck and on_stuck is not None:
            on_stuck()
        leave_if_stuck(audio, events, EngineFailed(told.message, told.hint))
        if told is e:
            raise
        raise told from e
    controls.muted, controls.volume = audio.muted, audio.volume
    if audio.stuck and on_stuck is not None:
        on_stuck()
    leave_if_stuck(audio, events, stop=stop)
    return stop


def leave_if_stuck(audio, events: EventSender, failed: EngineFailed | None = None,
                   stop: str | None = None) -> None:
    """After a conversation: a stream that would not close means only a new process can
    use the sound system, and exiting normally would wait on it forever. Tell `failed`
    (or that the sound system stopped), or that the process was shut down, and leave."""
    if not audio.stuck:
        return
    if failed is None and stop == "shutdown":
        _leave(events, StateChanged("stopped", "shut down"), 0)
    _leave(events, failed or EngineFailed("The sound system stopped responding.",
                                          "The engine is restarting."), 1)


def _leave(events: EventSender, last, code: int) -> None:
    """End the process now, past sounddevice's exit handler (it would wait on a stuck
    stream forever), once `last` and what is waiting have been sent."""
    events.send(last)
    events.close()
    os._exit(code)


def _mode(config: HostConfig, events: EventSender) -> tuple[str, int | None]:
    """The weights' precision and placement and the context: as set (with the model's own
    context), or the best fit for this GPU."""
    from ..core.errors import DeviceError
    from . import modes
    from .torch_env import pick_device

    # (A team server never gets here: its settings start the remote engine's process.)
    if config.quant_mode in LOCAL:
        return config.quant_mode, None
    if config.device == "cpu" or config.quant_mode == CPU:  # asked for in so many words
        return BF16, None
    choice = modes.detect() if pick_device(config.device).type == "cuda" else modes.pick(None)
    if choice.mode == SERVER:
        raise DeviceError(choice.note, "Choose Team server in Settings > Engine (or Processor "
                                       "only there, to try the app far slower than real "
                                       "time).")
    if choice.mode != BF16:
        events.send(Notice(choice.note))
    return choice.mode, choice.context


def _loading_reporter(events: EventSender):
    last = [-1.0, ""]

    def report(fraction: float, what: str) -> None:
        if what != last[1] or fraction - last[0] >= 0.02:  # ~50 updates for a whole load
            last[:] = [fraction, what]
            events.send(Loading(round(fraction, 3), what))
    return report


def converse_live(loop, audio, commands, events, offset: float = 0.0,
                  persona_name: str = "", on_devices=None) -> str:
    """Frames until told to stop; returns the command that ended the conversation.
    `commands` needs poll() and recv(); `events` needs send() and send_levels().
    Turns and the recording start with the first frame; their times are seconds into
    this recording (`offset` is where it sits in the whole conversation)."""
    from ..audio.recording import ConversationRecorder
    from ..core.events import RecordingFinished
    from ..core.turns import TurnConfig, TurnTracker

    stt = getattr(loop, "stt", None)
    # The user's words come the speech-to-text model's delay after their sound.
    tracker = TurnTracker(TurnConfig(text_lag_s=stt.delay_s + 0.1) if stt else None)
    recorder = ConversationRecorder(persona=persona_name)
    # Memory keeps the turns whether or not they are recorded (off, or no room): without
    # a WAV the key names only the conversation.
    key = str(recorder.wav_path or f"unrecorded-{uuid.uuid4().hex}")
    events.send(RecordingStarted(key, recorder.started_at, recorder.wav_path is not None))
    ended = False
    try:
        stop = _frames(loop, audio, commands, events, offset, tracker, recorder, on_devices)
        ended = True
        return stop
    finally:  # the turns so far and the recording are kept however the loop ended
        if ended:  # the user's last words, still inside the speech-to-text model
            for result in loop.flush_user():
                _user_words(result, offset, tracker, recorder, events)
        for event in tracker.finish():
            _turn_event(event, recorder, events)
        recorder.finish()
        _recording_error(recorder, events)
        # after its last turns: memory may now finish it
        events.send(RecordingFinished(key, recorder.frames * FRAME_S))


def _turn_event(event, recorder, events) -> None:
    from ..core.turns import TurnEnded

    if isinstance(event, TurnEnded):
        recorder.add_turn(event.turn)
    events.send(event)


def _user_words(result, offset, tracker, recorder, events) -> None:
    """A frame of the flush at the end: the speech-to-text model heard silence, so the
    turns and the recording get silence too, with the user's last words."""
    silence = np.zeros(1920, np.float32)
    if result.user_piece is not None:
        events.send(TextPiece(result.user_piece, offset + result.user_time, "user"))
    for event in tracker.push(silence, silence, None, result.user_piece, result.user_time):
        _turn_event(event, recorder, events)
    recorder.write(silence, silence, None, result.user_piece, result.user_time)


def _recording_error(recorder, events) -> None:
    if (error := recorder.take_error()) is not None:
        events.send(RecordingStopped(error.message, error.hint))


def _frames(loop, audio, commands, events, offset, tracker, recorder, on_devices) -> str:
    fault_at = int(os.environ.get(FAULT_ENV, "0") or 0)
    times: list[float] = []
    n = 0
    underruns_before = None  # the speaker's silence before the first reply is not a fault
    while True:
        while commands.poll():
            command, arg = commands.recv()
            if command in ("stop", "shutdown"):
                return command
            if command == "mute":
                audio.muted = bool(arg)
            elif command == "volume":
                audio.volume = float(arg)
            elif command == "devices":  # the user chose others, mid-conversation
                audio.reopen(*arg)
                if on_devices is not None:
                    on_devices(arg)
            elif command == "preview":  # the model is talking: no sample now
                events.send(VoiceSample(str((arg or {}).get("voice", "")), "",
                                        "Voices can be heard when no conversation is going on.",
                                        "End the conversation, then try again."))
        mic = audio.read_frame(timeout=2.0)
        if mic is None:
            raise ArcusError("The microphone stopped delivering audio.",
                             "Check that it is still plugged in, or choose another device.")
        if n + 1 == fault_at:
            raise RuntimeError(f"fault injected at frame {fault_at} ({FAULT_ENV})")
        result = loop.process(mic)
        audio.write_frame(result.pcm)
        if underruns_before is None:
            underruns_before = audio.stats.playback_underruns
        now = offset + n * FRAME_S
        if result.piece is not None:
            events.send(TextPiece(result.piece, now))
        if result.user_piece is not None:
            events.send(TextPiece(result.user_piece, offset + result.user_time, "user"))
        for event in tracker.push(mic, result.pcm, result.piece, result.user_piece,
                                  result.user_time):
            _turn_event(event, recorder, events)
        recorder.write(result.pcm, mic, result.piece, result.user_piece, result.user_time)
        _recording_error(recorder, events)
        events.send_levels(Levels(float(np.sqrt(np.mean(mic ** 2))),
                                  float(np.sqrt(np.mean(result.pcm ** 2)))))
        times.append(result.compute_ms)
        n += 1
        if n % STATS_EVERY == 0:
            stats = audio.stats
            recent = times[-STATS_EVERY:]
            del times[:-STATS_EVERY]
            events.send(FrameStats(n, float(np.median(recent)), float(max(recent)),
                                   float(np.mean(recent)) / (FRAME_S * 1000),
                                   stats.capture_overruns,
                                   stats.playback_underruns - underruns_before,
                                   getattr(events, "dropped_levels", 0),
                                   round(stats.capture_queue_ms, 1),
                                   round(stats.playback_queue_ms, 1),
                                   getattr(loop, "latency_ms", None),  # a team server's
                                   round(stats.added_delay_ms, 1)))
