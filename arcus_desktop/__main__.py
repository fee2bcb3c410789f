import multiprocessing

from .cli import main

if __name__ == "__main__":
    # In the frozen app the spawned engine process re-runs this executable; freeze_support
    # turns that run into the child instead of a second app.
    multiprocessing.freeze_support()
    raise SystemExit(main())
