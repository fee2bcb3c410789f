"""Slimming steps build.spec runs on the built onedir bundle (Linux): what a wheel ships
that the app never loads. Each step only removes; the smoke test runs after them."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile

# ICU data the app never reads. Qt asks ICU only for case mapping, collation, time zone
# names and converters (`nm -D --undefined-only libQt6Core.so.6`); the app's text is
# UTF-8 (converted by ICU without tables) and shows no zone names. Left out: locale
# display names (lang, region, curr, unit, zone), number spell-out (rbnf),
# transliteration, break-iterator rules and dictionaries (Qt breaks text itself),
# character names, and the legacy converters' tables (.cnv; their aliases stay).
ICU_DROP_TREES = ("brkitr/", "curr/", "lang/", "region/", "unit/", "zone/", "rbnf/",
                  "translit/")
ICU_DROP_FILES = ("unames.icu",)


def elf_sections(path: str) -> list[bytes] | None:
    """The section names of a 64-bit ELF file, or None for anything else."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or len(head) < 64 or head[4] != 2:
            return None
        shoff, = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
        if not shoff or not shnum or shstrndx >= shnum:
            return []
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        names_at, names_size = struct.unpack_from("<QQ", table, shstrndx * shentsize + 0x18)
        f.seek(names_at)
        names = f.read(names_size)
    out = []
    for i in range(shnum):
        at, = struct.unpack_from("<I", table, i * shentsize)
        out.append(names[at:names.find(b"\0", at)])
    return out


def loads_aligned(path: str) -> bool:
    """Whether every PT_LOAD segment's file offset and address agree modulo its
    alignment: strip from binutils 2.40 breaks that in libraries that patchelf rewrote
    (numpy's bundled OpenBLAS: "ELF load command address/offset not page-aligned")."""
    with open(path, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        kind, _flags, offset, vaddr = struct.unpack_from("<IIQQ", table, i * phentsize)
        align, = struct.unpack_from("<Q", table, i * phentsize + 0x30)
        if kind == 1 and align > 1 and offset % align != vaddr % align:
            return False
    return True


def strip_libraries(top: str, unneeded: bool) -> int:
    """Debug information out of every shared library under top (sphn's module carries
    82 MB of it); with `unneeded`, the static symbol table too (.symtab: only debuggers
    and backtraces read it; the dynamic one that loading needs stays). A library that
    strip would leave unloadable keeps its original. Bytes saved."""
    saved = 0
    for folder, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            if ".so" not in name or os.path.islink(path):
                continue
            sections = elf_sections(path) or []
            if b".debug_info" in sections or (unneeded and b".symtab" in sections):
                before = os.path.getsize(path)
                stripped = path + ".stripped"
                subprocess.run(["strip", "--strip-unneeded" if unneeded else "--strip-debug",
                                "-o", stripped, path], check=True)
                if loads_aligned(stripped):
                    shutil.copymode(path, stripped)
                    os.replace(stripped, path)
                    saved += before - os.path.getsize(path)
                else:
                    os.remove(stripped)
                    print(f"slim: {path} is left unstripped (strip breaks its segments)")
    return saved


def trim_icu(lib: str, trees=ICU_DROP_TREES, files=ICU_DROP_FILES,
             converters: bool = True) -> tuple[int, int] | str:
    """Rewrite libicudata.so.NN without the items above: the data is the one symbol
    icudtNN_dat, so it is cut out with icupkg (Debian's icu-devtools) and linked back
    into a library of the same name. Returns (bytes before, after), or why not."""
    icupkg, cc = shutil.which("icupkg"), shutil.which("cc") or shutil.which("gcc")
    if not icupkg or not cc:
        return "icupkg (icu-devtools) or a C compiler is missing"
    out = subprocess.run(["readelf", "-sW", lib], capture_output=True, text=True, check=True).stdout
    found = [line.split() for line in out.splitlines() if line.strip().endswith("_dat")
             and "OBJECT" in line]
    sec = subprocess.run(["readelf", "-SW", lib], capture_output=True, text=True, check=True).stdout
    rodata = [line.split() for line in sec.splitlines() if " .rodata " in line]
    if not found or not rodata:
        return "no ICU data symbol in " + lib
    _, value, size, *_rest, symbol = found[0]
    parts = rodata[0][rodata[0].index(".rodata") + 1:]  # type, address, offset, size
    address, offset = int(parts[1], 16), int(parts[2], 16)
    start, length = int(value, 16) - address + offset, int(size, 0)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, symbol[:-4] + "l.dat")  # icudt73l.dat: little-endian
        with open(lib, "rb") as f:
            f.seek(start)
            blob = f.read(length)
        with open(data, "wb") as f:
            f.write(blob)
        items = subprocess.run([icupkg, "-l", data], capture_output=True, text=True,
                               check=True).stdout.split()
        drop = [i for i in items if i.startswith(tuple(trees)) or i in files
                or (converters and i.endswith(".cnv"))]
        with open(os.path.join(tmp, "drop.txt"), "w") as f:
            f.write("\n".join(drop) + "\n")
        # Same file name: icupkg names the package (every item's prefix) after it.
        os.mkdir(os.path.join(tmp, "out"))
        small = os.path.join(tmp, "out", os.path.basename(data))
        subprocess.run([icupkg, "-r", os.path.join(tmp, "drop.txt"), data, small],
                       check=True, capture_output=True)
        asm = os.path.join(tmp, "data.S")
        with open(asm, "w") as f:
            f.write(f'.section .rodata\n.globl {symbol}\n.type {symbol},@object\n'
                    f'.balign 16\n{symbol}:\n.incbin "{small}"\n'
                    f'.size {symbol}, .-{symbol}\n.section .note.GNU-stack,"",@progbits\n')
        new = os.path.join(tmp, os.path.basename(lib))
        subprocess.run([cc, "-shared", "-nostdlib", "-Wl,-soname," + os.path.basename(lib),
                        "-o", new, asm], check=True)
        before = os.path.getsize(lib)
        shutil.copyfile(new, lib)
    return before, os.path.getsize(lib)


def remove_dangling_links(top: str) -> int:
    """Links PyInstaller made to libraries that build.spec then left out: nothing to
    load behind them. Returns how many were removed."""
    removed = 0
    for folder, dirs, files in os.walk(top):
        for name in files + dirs:
            path = os.path.join(folder, name)
            if os.path.islink(path) and not os.path.exists(path):
                os.remove(path)
                removed += 1
    return removed
