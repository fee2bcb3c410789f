"""The app's settings as one typed object, its defaults, its checks, and its storage
through a small key/value interface (QSettings in the GUI, a dict in tests).

No Qt here and no secrets: the Hugging Face token, the team server token and the sync
session live only in the OS keyring (`secrets.py`); `Secrets` below carries the two
tokens the settings dialog edits, straight to and from the keyring. The sync section
keeps living in sync.json (`sync.py`), where the sync thread reads it.
"""

from __future__ import annotations

import copy
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ..core.addresses import address_problem, cleartext_problem
from ..core import modes
from ..core.certs import normalize as normal_fingerprint
from ..core.persona import ARCUS_COMPANION, DEFAULT_TOKEN_BUDGET, DEFAULT_VOICE, Persona
from . import secrets as secret_store
from . import sync as sync_settings
from .sync import SyncSettings

VERSION = 1  # bump when a key changes meaning; `load` can then convert old values

# --- persona presets --------------------------------------------------------------------

CUSTOM = "custom"


@dataclass(frozen=True)
class PersonaPreset:
    key: str
    title: str
    text: str


PERSONA_PRESETS: tuple[PersonaPreset, ...] = (
    PersonaPreset("companion", "Arcus companion", ARCUS_COMPANION),
    PersonaPreset("teacher", "Teacher and assistant", (
        "You are Arcus, a patient teacher and helpful assistant. You explain things step by "
        "step in plain words, give a short example when it helps, check that the user "
        "follows, and admit it when you are not sure.")),
    PersonaPreset("casual", "Casual conversation", (
        "You are Arcus, and you enjoy a relaxed, friendly chat. You are curious about the "
        "user's day and interests, share your own thoughts with a little humour, keep your "
        "turns short, and let the conversation flow naturally.")),
)
DEFAULT_PERSONA = PERSONA_PRESETS[0].key


def persona_preset(key: str) -> PersonaPreset | None:
    return next((p for p in PERSONA_PRESETS if p.key == key), None)


# "You are Mira, …": the name a role gives itself (capitalised, up to three words)
_ROLE_NAME = re.compile(r"(?i:you are) ((?:[A-Z][\w'’-]*)(?: [A-Z][\w'’-]*){0,2})(?=[\s,.;:!]|$)")


def persona_name(text: str) -> str:
    """A persona in a few words, for a heading: its preset's title ("Arcus companion"),
    else the name its role gives ("You are Mira, a tutor…": "Mira"), else a short text
    as it is, else "a custom persona"."""
    text = " ".join(text.split())
    preset = next((p for p in PERSONA_PRESETS if p.text == text), None)
    if preset is not None:
        return preset.title
    named = _ROLE_NAME.match(text)
    if named:
        return named[1]
    if text and len(text.split()) <= 3 and not any(c in text for c in ".,;:!?"):
        return text
    return "a custom persona"


# --- voices -----------------------------------------------------------------------------

_VOICE_NAME = re.compile(r"^(NAT|VAR)([FM])(\d+)$")


@dataclass(frozen=True)
class VoiceInfo:
    name: str
    style: str  # "natural", "varied", or "" for a name outside the preset scheme
    gender: str  # "female", "male" or ""

    @property
    def label(self) -> str:
        """What a list shows: 'NATF2 — natural, female'."""
        parts = [p for p in (self.style, self.gender) if p]
        return f"{self.name} — {', '.join(parts)}" if parts else self.name


def describe_voice(name: str) -> VoiceInfo:
    """Style and gender of a preset from its name (NAT = natural, VAR = varied; F/M)."""
    m = _VOICE_NAME.match(name)
    if not m:
        return VoiceInfo(name, "", "")
    return VoiceInfo(name, "natural" if m[1] == "NAT" else "varied",
                     "female" if m[2] == "F" else "male")


RECORDING_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")

# --- engine modes -----------------------------------------------------------------------

# key -> what the user sees (core/modes.py defines both).
ENGINE_MODES: dict[str, str] = {key: m.label for key, m in modes.SETTINGS.items()}
SERVER_SCHEMES = ("http://", "https://", "ws://", "wss://")

# --- the settings -----------------------------------------------------------------------


@dataclass
class VoiceSettings:
    preset: str = DEFAULT_VOICE
    use_own: bool = False  # use `own_recording` instead of the preset
    own_recording: str = ""  # path of the user's recording
    consent: bool = False  # the user confirmed they may use that voice


@dataclass
class PersonaSettings:
    preset: str = DEFAULT_PERSONA  # a PERSONA_PRESETS key, or CUSTOM once edited
    text: str = ARCUS_COMPANION
    token_budget: int = DEFAULT_TOKEN_BUDGET


@dataclass
class SamplingSettings:
    audio_temperature: float = 0.8
    audio_top_k: int = 250
    text_temperature: float = 0.7
    text_top_k: int = 25
    seed: int | None = None  # None: a new random seed for every conversation


@dataclass
class EngineSettings:
    mode: str = modes.DEFAULT
    server_url: str = ""  # its token is a secret: keyring only
    # The server's certificate, pinned by its SHA-256 ("AB:CD:…"); "" for the usual CA
    # checks. It belongs to the server at server_url: a new server forgets it.
    server_fingerprint: str = ""
    # A folder that holds PersonaPlex's files; "" is the model the setup downloaded
    # (the Hugging Face cache).
    model_dir: str = ""

    @property
    def model_folder(self) -> str | None:
        """What the engine's `model_dir` takes: the folder, or None for the cache."""
        return self.model_dir.strip() or None


@dataclass
class AudioSettings:
    input_device: str = ""  # a device name; "" is the system default
    output_device: str = ""
    echo_cancellation: bool = True
    volume: int = 100  # percent


@dataclass
class HotkeySettings:
    shortcut: str = "Ctrl+Alt+Space"  # Qt's portable key sequence text
    hold_to_talk: bool = False


@dataclass
class MemorySettings:
    enabled: bool = True
    items: int = 5  # recalled memories put into the persona prompt


@dataclass
class DataSettings:
    folder: str = ""  # "" is the platform's default data folder
    keep_recordings: bool = True
    retention_days: int = 30  # 0 keeps recordings until deleted by hand
    start_at_login: bool = False


@dataclass
class AppSettings:
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    persona: PersonaSettings = field(default_factory=PersonaSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    hotkey: HotkeySettings = field(default_factory=HotkeySettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    data: DataSettings = field(default_factory=DataSettings)
    # Kept in sync.json, not in the key/value store (see the module docstring).
    sync: SyncSettings = field(default_factory=SyncSettings, metadata={"store": "sync.json"})

    def copy(self) -> AppSettings:
        return copy.deepcopy(self)

    def to_persona(self) -> Persona:
        """The persona the engine takes (its text before any memories are added)."""
        own = self.voice.use_own and self.voice.consent and bool(self.voice.own_recording)
        return Persona(text=self.persona.text, voice=self.voice.preset,
                       voice_file=self.voice.own_recording if own else None,
                       token_budget=self.persona.token_budget)


def _stored_sections() -> list[tuple[str, type]]:
    hints = typing.get_type_hints(AppSettings)
    return [(f.name, hints[f.name]) for f in fields(AppSettings) if not f.metadata.get("store")]


def keys() -> list[str]:
    """Every key the store holds, as 'section/field'."""
    return ["version"] + [f"{name}/{f.name}" for name, cls in _stored_sections()
                          for f in fields(cls)]


# --- checks -----------------------------------------------------------------------------

LIMITS = {  # (low, high) of number fields, shown by the dialog's spin boxes too
    "sampling/audio_temperature": (0.0, 2.0),
    "sampling/text_temperature": (0.0, 2.0),
    "sampling/audio_top_k": (1, 2048),
    "sampling/text_top_k": (1, 32000),
    "sampling/seed": (0, 2**31 - 1),
    "persona/token_budget": (20, 1000),
    "audio/volume": (0, 100),
    "memory/items": (1, 20),
    "data/retention_days": (0, 3650),
}


@dataclass(frozen=True)
class Problem:
    key: str  # 'section/field' it is about
    text: str  # for the user: what is wrong and what to do


def check(s: AppSettings) -> list[Problem]:
    """What keeps these settings from being used; empty when they are fine.
    (The persona's token count needs the tokenizer: the dialog checks that itself.)"""
    problems = []
    for key, (lo, hi) in LIMITS.items():
        section, name = key.split("/")
        value = getattr(getattr(s, section), name)
        if value is not None and not lo <= value <= hi:
            problems.append(Problem(key, f"Choose a value from {lo} to {hi}."))
    v = s.voice
    if v.use_own:
        path = Path(v.own_recording).expanduser() if v.own_recording.strip() else None
        if path is None:
            problems.append(Problem("voice/own_recording", "Choose a recording of the voice."))
        elif not path.is_file():
            problems.append(Problem("voice/own_recording", f"{path} does not exist."))
        elif path.suffix.lower() not in RECORDING_SUFFIXES:
            problems.append(Problem("voice/own_recording",
                                    "Use a WAV, FLAC, MP3 or OGG recording."))
        if not v.consent:
            problems.append(Problem("voice/consent",
                                    "Confirm that you may use this voice before it is used."))
    elif not v.preset.strip():
        problems.append(Problem("voice/preset", "Choose a voice."))
    if not s.persona.text.strip():
        problems.append(Problem("persona/text", "Describe who Arcus should be."))
    if s.engine.mode not in ENGINE_MODES:
        problems.append(Problem("engine/mode", "Choose how to run the model."))
    url = s.engine.server_url.strip()
    if s.engine.mode == modes.SERVER and not url:
        problems.append(Problem("engine/server_url",
                                "Enter the team server's address, e.g. https://gpu-box:8998."))
    elif url and not server_url_ok(url):
        problems.append(Problem("engine/server_url", address_problem(url) or
                                "The address must start with http://, https://, ws:// or wss:// "
                                "and name a host, e.g. https://gpu-box:8998."))
    elif url and (problem := cleartext_problem(url)):
        problems.append(Problem("engine/server_url", " ".join(problem)))
    if s.engine.model_folder and s.engine.mode != modes.SERVER:
        path = Path(s.engine.model_folder).expanduser()
        if not path.is_absolute():
            problems.append(Problem("engine/model_dir", "Use a full path, such as "
                                                        f"{Path.home() / 'personaplex'}."))
        elif not path.is_dir():
            problems.append(Problem("engine/model_dir",
                                    f"{path} is a file, not a folder." if path.exists() else
                                    f"The folder {path} does not exist."))
    pin = s.engine.server_fingerprint.strip()
    if pin and normal_fingerprint(pin) is None:
        problems.append(Problem("engine/server_fingerprint",
                                "This is not a SHA-256 fingerprint: it has 32 pairs of hex "
                                "digits, like 3A:F1:…. Copy it as the server's owner gave it, "
                                "or leave it empty."))
    elif pin and not url.lower().startswith(("https://", "wss://")):
        problems.append(Problem("engine/server_fingerprint",
                                "A certificate fingerprint needs a secure address: use "
                                "https:// (or clear the fingerprint for a server without TLS)."))
    if not shortcut_ok(s.hotkey.shortcut):
        problems.append(Problem("hotkey/shortcut",
                                "Use a combination with Ctrl, Alt, Shift or Meta, e.g. Ctrl+Alt+Space."))
    folder = s.data.folder.strip()
    if folder:
        path = Path(folder).expanduser()
        if not path.is_absolute():
            problems.append(Problem("data/folder", "Use a full path, such as "
                                                   f"{Path.home() / 'Arcus'}."))
        elif path.exists() and not path.is_dir():
            problems.append(Problem("data/folder", f"{path} is a file, not a folder."))
    if s.sync.enabled:
        if not s.sync.url.strip().startswith(("http://", "https://")):
            problems.append(Problem("sync/url", "Enter the project's address, "
                                                "e.g. https://abcd.supabase.co."))
        elif problem := cleartext_problem(s.sync.url, "sync server"):
            problems.append(Problem("sync/url", " ".join(problem)))
        if not s.sync.anon_key.strip():
            problems.append(Problem("sync/anon_key", "Enter the project's anon (public) key."))
    return problems


def same_server(a: str, b: str) -> bool:
    """Whether two addresses name the same server (host and port; the scheme's default
    port when none is given), so that its pinned certificate still applies."""
    def key(url: str):
        parts = urlsplit(url.strip())
        try:
            port = parts.port
        except ValueError:
            return None
        default = 443 if parts.scheme.lower() in ("https", "wss") else 80
        return (parts.hostname, port or default) if parts.hostname else None
    return key(a) is not None and key(a) == key(b)


def server_url_ok(url: str) -> bool:
    url = url.strip()
    scheme = next((s for s in SERVER_SCHEMES if url.lower().startswith(s)), None)
    host = url[len(scheme):].split("/")[0] if scheme is not None else ""
    return bool(host.strip()) and not any(c.isspace() for c in host) and \
        not address_problem(url)


MODIFIERS = ("ctrl", "alt", "shift", "meta")


def shortcut_ok(text: str) -> bool:
    """A global shortcut needs a modifier and one key: a plain key would be taken from
    every other application. Empty means no shortcut, which is allowed."""
    if not text.strip():
        return True
    parts = [p.strip().lower() for p in text.replace(", ", ",").split(",")[0].split("+")]
    mods = [p for p in parts if p in MODIFIERS]
    keys_ = [p for p in parts if p and p not in MODIFIERS]
    return bool(mods) and len(keys_) == 1


# --- storage ----------------------------------------------------------------------------


class SettingsStore(Protocol):
    """Where the settings are kept: a flat map of 'section/field' keys."""

    def value(self, key: str) -> object | None: ...  # None when the key is not there
    def set_value(self, key: str, value: object) -> None: ...
    def sync(self) -> None: ...  # write through now


class DictStore:
    """A SettingsStore in memory, for tests and for tools that keep nothing."""

    def __init__(self, data: dict | None = None) -> None:
        self.data = dict(data or {})

    def value(self, key: str) -> object | None:
        return self.data.get(key)

    def set_value(self, key: str, value: object) -> None:
        self.data[key] = value

    def sync(self) -> None:
        pass


def _to_store(value):
    # QSettings' ini files keep text only; write exactly what `_from_store` reads back.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


_NO = object()


def _from_store(raw, kind):
    """`raw` as `kind`, or _NO when it cannot be read (the default applies then)."""
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
    if optional:
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
    if raw is None:
        return _NO
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            return {"true": True, "1": True, "false": False, "0": False}.get(text, _NO)
        if kind is int:
            return int(str(raw).strip()) if not isinstance(raw, bool) else _NO
        if kind is float:
            return float(str(raw).strip())
        if kind is str:
            return raw if isinstance(raw, str) else str(raw)
    except (TypeError, ValueError):
        return _NO
    return _NO


def load(store: SettingsStore) -> AppSettings:
    """The saved settings; anything missing or unreadable takes its default."""
    s = AppSettings()
    for name, cls in _stored_sections():
        section = getattr(s, name)
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            value = _from_store(store.value(f"{name}/{f.name}"), hints[f.name])
            if value is not _NO:
                setattr(section, f.name, value)
    _within_limits(s)
    if s.engine.mode not in ENGINE_MODES:
        s.engine.mode = EngineSettings.mode
    if s.persona.preset != CUSTOM and persona_preset(s.persona.preset) is None:
        s.persona.preset = CUSTOM
    s.sync = sync_settings.load()
    return s


def _within_limits(s: AppSettings) -> None:
    """A hand-edited or damaged file's numbers are brought into the dialog's range (a
    volume of 100000 would be a 1000x gain): clamped, or the default when not a number."""
    defaults = AppSettings()
    for key, (lo, hi) in LIMITS.items():
        section, name = key.split("/")
        value = getattr(getattr(s, section), name)
        if value is None:
            continue
        if math.isfinite(value):
            value = min(hi, max(lo, value))
        else:
            value = getattr(getattr(defaults, section), name)
        setattr(getattr(s, section), name, value)


def save(store: SettingsStore, s: AppSettings) -> None:
    store.set_value("version", VERSION)
    for name, cls in _stored_sections():
        section = getattr(s, name)
        for f in fields(cls):
            store.set_value(f"{name}/{f.name}", _to_store(getattr(section, f.name)))
    store.sync()
    sync_settings.save(s.sync)


# --- secrets (keyring only) -------------------------------------------------------------

SECRET_NAMES = {  # keyring name -> what the user is told it is
    "hf_token": "the Hugging Face token",
    "server_token": "the team server token",
}


@dataclass
class Secrets:
    hf_token: str = field(default="", repr=False)
    server_token: str = field(default="", repr=False)


def load_secrets() -> Secrets:
    """The tokens saved in the keyring ("" for none, or when there is no keyring)."""
    return Secrets(**{name: secret_store.get_secret(name) or "" for name in SECRET_NAMES})


def save_secrets(new: Secrets, old: Secrets | None = None) -> None:
    """Write the tokens that changed (an empty one is deleted). Raises ArcusError when
    the keyring is missing or refuses; nothing is ever written anywhere else."""
    for name, what in SECRET_NAMES.items():
        value = getattr(new, name).strip()
        if old is not None and value == getattr(old, name).strip():
            continue
        if value:
            secret_store.set_secret(name, value, what)
        else:
            secret_store.delete_secret(name, what)


def server_token() -> str | None:
    """The team server's token for the engine's remote client."""
    return secret_store.get_secret("server_token") or None
