"""The frozen app's entry script (PyInstaller runs it as a top-level script, where
arcus_desktop/__main__.py's relative import would fail)."""

import multiprocessing

from arcus_desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the spawned engine process re-runs this executable
    raise SystemExit(main())
