"""The container recipe for `serve` (installer/server/Dockerfile), checked as text: no
container engine runs here (the docker client has no daemon, and base images cannot be
fetched), so it is never built in these tests."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "installer" / "server" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", RECIPE.read_text())  # continued lines joined
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_image_is_nvidia_s_cuda_runtime_with_serve_and_no_model():
    steps = instructions()
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert bases and all(b == "${BASE_IMAGE}" for b in bases)
    assert re.fullmatch(r"nvcr\.io/nvidia/cuda:[\d.]+-runtime-ubuntu[\d.]+", args["BASE_IMAGE"])
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert "arcus-desktop download" not in runs and "huggingface" not in runs.lower()
    assert ("ENTRYPOINT", '["arcus-desktop"]') in steps  # exec form: serve is PID 1, gets SIGTERM
    user = [rest for word, rest in steps if word == "USER"][-1]
    assert not user.startswith(("0", "root"))
    assert ("EXPOSE", "8998 8999") in steps  # conversations; the agent / readiness port


def test_what_it_copies_exists_and_passes_the_ignore_file():
    lines = (RECIPE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    def kept(path: str) -> bool:
        keep = True
        for pattern in ignore:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(path, pattern.lstrip("!")):
                keep = negated
        return keep

    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert kept(source), f"{source} is left out by Dockerfile.dockerignore"
