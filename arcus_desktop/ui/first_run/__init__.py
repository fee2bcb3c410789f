"""The first-run setup: from nothing to a working assistant. `FirstRunWizard` walks
through this computer's GPU, the model's licence and token, the download (or a team
server instead) and saves the choices; `needs_setup()` says when the app should show it."""

from .check import needs_setup
from .wizard import FirstRunWizard

__all__ = ["FirstRunWizard", "needs_setup"]
