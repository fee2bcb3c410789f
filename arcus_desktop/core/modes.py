"""The ways to run the model ("modes"): their names, what the user is told about each,
and the groups the layers ask about. The one place a mode is spelled: settings, the UI,
the CLI, the engine and the server take the names from here (plain values, so the GUI
and the client load no torch for them). tests/unit/test_mode_literals.py fails on a
mode written as a string anywhere else in the package.

How much GPU memory each mode needs and which one fits a GPU is the engine's knowledge
(engine/modes.py, keyed by these names)."""

from __future__ import annotations

from dataclasses import dataclass

AUTO = "auto"  # what fits the GPU, decided again at each start (engine.modes.pick)
BF16 = "bf16"  # full precision on the GPU
FP8 = "fp8"  # 8-bit float weights (GPUs of compute capability 8.9 and newer)
INT8 = "int8"  # 8-bit weights
INT4 = "int4"  # 4-bit weights, a 2-minute context
OFFLOAD = "offload"  # int8 layers streamed from main memory to a small GPU every frame
OFFLOAD_BF16 = "offload-bf16"  # the same with full-precision layers (benchmarks only)
SERVER = "server"  # a team server runs the model (the remote engine)
CPU = "cpu"  # full precision on the processor: the engine's device "cpu"

# The precisions weights are loaded in (engine/quant.py); the quantized ones are packed.
PRECISIONS = (BF16, FP8, INT8, INT4)
QUANTIZED = (FP8, INT8, INT4)
# Streamed modes -> the precision of the whole model, the streamed layers included.
STREAMED = {OFFLOAD: INT8, OFFLOAD_BF16: BF16}
# What engine.model.load takes.
LOCAL = (*PRECISIONS, *STREAMED)
# What runs on a GPU, best first: the order engine.modes.pick tries them in.
GPU = (BF16, INT8, INT4, OFFLOAD)
# Modes that run the model on this computer (a GPU or its processor). FP8 is chosen only
# by name: it needs a GPU of compute capability 8.9 or newer, and int8 is as small.
ON_THIS_COMPUTER = (*GPU, FP8, CPU)


@dataclass(frozen=True)
class Mode:
    key: str
    label: str  # Settings' list, the setup wizard's choice, `doctor`
    note: str  # Settings > Engine, under the list; {need}: the free GPU memory it needs
    why: str  # the setup wizard, under its choice; {need} as above
    status: str  # the conversation window's status line: its kind, or a text shown as is


_NO_GPU_HERE = "Without an NVIDIA GPU it cannot run: choose Team server or Processor only."
_CPU_ONLY = ("Runs the model on this computer's processor, without a GPU. Not real time: "
             "replies come many seconds after you speak, so it is for trying the app, not ")

# The modes a user can choose, in the order they are offered.
SETTINGS: dict[str, Mode] = {m.key: m for m in (
    Mode(AUTO, "Automatic (chosen by free GPU memory)",
         "When a conversation starts, Arcus looks at the free GPU memory and picks full "
         "precision, 8-bit or 4-bit weights, or CPU offload (slow) on a very small GPU. "
         "Without a suitable NVIDIA GPU it cannot run here: choose Team server (or "
         "Processor only, to try the app).",
         "", "local-gpu"),
    Mode(BF16, "Local GPU, full precision",
         "The best quality. Needs {need} (an NVIDIA GPU).",
         "The best sound. Needs an NVIDIA GPU with about {need} of free memory.",
         "local-gpu"),
    Mode(INT8, "Low memory: 8-bit weights",
         "Nearly the same sound in less memory: needs {need}.",
         "Nearly the same sound in less memory: about {need}.",
         "low-memory"),
    Mode(FP8, "8-bit float weights (RTX 40-series, L4, H100 and newer)",
         "Half the memory of full precision ({need}) and faster than it, as 8-bit "
         "weights are, but slightly less exact than them. Made for a team server short "
         "of memory, where its batches run far faster than 8-bit weights'. Needs an "
         "NVIDIA GPU of the Ada or Hopper generation or newer.",
         "Half the memory of full precision (about {need}) on the newest NVIDIA GPUs.",
         "low-memory"),
    Mode(INT4, "Low memory: 4-bit weights",
         "Needs {need}. Remembers only the last two minutes of a conversation "
         "and may fall behind real time: a team server sounds better.",
         "Fits about {need}, remembers only the last two minutes and may lag behind.",
         "low-memory"),
    Mode(OFFLOAD, "Small GPU: CPU offload (slow)",
         "For a small NVIDIA GPU ({need}): most of the model stays in "
         "main memory and crosses to that GPU as needed. Far slower than real time. "
         + _NO_GPU_HERE,
         "Fits about {need} by keeping most of the model in this computer's memory: "
         "about 1.6 times slower than real time, so replies lag far behind.",
         "cpu-offload"),
    Mode(SERVER, "Team server",
         "The model runs on your team's server; this computer only sends and plays "
         "the audio. Needs the server's address below.",
         "The model runs on a computer your team shares; this one only sends and "
         "plays the audio. Works on any laptop.",
         "remote"),
    Mode(CPU, "Processor only (no GPU, not real time)",
         _CPU_ONLY + "for conversations. Needs a lot of main memory.",
         _CPU_ONLY + "for conversations.",
         "Processor only (not real time)"),
)}
DEFAULT = AUTO  # a fresh install's setting
# The setup wizard's choices, in order (FP8 is for those who know their GPU: Settings).
WIZARD = tuple(k for k in SETTINGS if k not in (AUTO, FP8))


def label(key: str) -> str:
    """What the user sees for a mode; an unknown name as it is."""
    return SETTINGS[key].label if key in SETTINGS else key


def status(key: str) -> str:
    """The status line's engine kind for a setting (a local GPU for an unknown one)."""
    return SETTINGS[key].status if key in SETTINGS else SETTINGS[BF16].status
