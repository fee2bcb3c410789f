"""PyInstaller runtime hook: runs in the frozen app before any of its code."""

import ctypes.util
import os
import sys

# torch.compile needs a compiler toolchain that a laptop may not have; the bundle
# leaves triton out, so compiling could never work here anyway.
os.environ.setdefault("NO_TORCH_COMPILE", "1")

# sounddevice finds PortAudio with find_library (ldconfig), which never looks inside
# the bundle: point it at the copy the bundle carries, when there is one.
_bundled = os.path.join(sys._MEIPASS, "libportaudio.so.2")
if sys.platform.startswith("linux") and os.path.exists(_bundled):
    _find_library = ctypes.util.find_library

    def _find(name, _orig=_find_library):
        return _bundled if name == "portaudio" else _orig(name)

    ctypes.util.find_library = _find
