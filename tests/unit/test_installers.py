"""The installer scripts agree with the spec and the app, and parse. (The Windows and
macOS builds cannot run here; tests/integration/test_smoke_test.py covers the smoke test
and installer/linux/build.sh the real Linux bundle.)"""

import ast
import configparser
import os
import plistlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from arcus_desktop.settings import autostart
from tests import debroot

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"
SPEC = (ROOT / "build.spec").read_text(encoding="utf-8")


def _iss() -> str:
    return (INSTALLER / "windows" / "arcus.iss").read_text(encoding="utf-8")


def test_spec_parses_and_its_files_exist():
    ast.parse(SPEC)
    paths = re.findall(r'os\.path\.join\(ROOT, ((?:"[^"]+", )*"[^"]+")\)', SPEC)
    assert len(paths) >= 4  # resources, the entry script, the runtime hook, Info.plist
    for rel in paths:
        path = ROOT.joinpath(*ast.literal_eval(f"({rel},)"))
        assert path.exists(), path
    assert 'name="arcus-desktop"' in SPEC
    assert "onefile" not in SPEC.replace("never onefile", "").replace("onefile would", "")
    assert "upx=False" in SPEC


def test_iss_installs_what_the_spec_builds():
    iss = _iss()
    bundle = re.search(r'#define BundleDir "([^"]+)"', iss).group(1)
    exe = re.search(r'#define AppExe "([^"]+)"', iss).group(1)
    # build.ps1 writes the bundle to build\dist; the spec names the program arcus-desktop.
    assert bundle.replace("\\", "/").endswith("build/dist/arcus-desktop")
    assert exe == "arcus-desktop.exe"
    assert "--distpath build\\dist" in (INSTALLER / "windows" / "build.ps1").read_text()


def test_iss_is_per_user_spanned_and_signable():
    iss = _iss()
    assert "PrivilegesRequired=lowest" in iss
    assert "DiskSpanning=yes" in iss
    assert re.search(r"#ifdef SIGN\s+SignTool=arcus\s+SignedUninstaller=yes\s+#endif", iss)
    # The autostart task writes the same Run value as the app's own setting.
    assert f'#define AppId "{autostart.APP_ID}"' in iss
    assert autostart.RUN_KEY in iss
    sections = re.findall(r"^\[(\w+)\]", iss, re.M)
    assert sections == ["Setup", "Tasks", "Files", "Icons", "Registry", "Run", "Code"]
    code = iss.split("[Code]")[1]
    assert code.count("begin") == code.count("end;")


def test_iss_preprocessor_blocks_balance():
    lines = [line.strip() for line in _iss().splitlines()]
    opened = sum(line.startswith(("#ifdef", "#ifndef", "#if ")) for line in lines)
    assert opened == sum(line == "#endif" for line in lines)


def test_mac_plists():
    info = plistlib.loads((INSTALLER / "macos" / "Info.plist").read_bytes())
    assert info["CFBundleIdentifier"] == autostart.APP_ID
    assert info["CFBundleExecutable"] == "arcus-desktop"
    assert len(info["NSMicrophoneUsageDescription"]) > 20
    assert info["LSUIElement"] is True  # a tray app: no Dock icon
    ent = plistlib.loads((INSTALLER / "macos" / "entitlements.plist").read_bytes())
    assert ent["com.apple.security.device.audio-input"] is True


def test_desktop_entry():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "resources" / "linux" / f"{autostart.APP_ID}.desktop")
    # /usr/bin/arcus-desktop in the .deb; from the menu a failed start is said in a window
    assert entry["Desktop Entry"]["Exec"] == "arcus-desktop --window-errors"
    assert entry["Desktop Entry"]["Icon"] == autostart.APP_ID


def test_deb_control_and_postrm():
    control = (INSTALLER / "linux" / "deb" / "control").read_text()
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line
                  and not line.startswith(" "))
    for key in ("Package", "Version", "Architecture", "Maintainer", "Depends", "Description"):
        assert key in fields
    postrm = (INSTALLER / "linux" / "deb" / "postrm").read_text()
    assert '"$1" = "purge"' in postrm
    assert "rm -rf ~/" not in postrm.replace('echo "  rm -rf ~/', "")  # never deletes it itself
    assert "/home/" not in postrm  # a package keeps out of home folders


@pytest.mark.parametrize("script", ["linux/build.sh", "linux/smoke.sh", "linux/bundle.sh",
                                    "linux/deb.sh", "linux/appimage.sh", "linux/deb/postrm",
                                    "macos/dmg.sh"])
def test_shell_scripts_parse(script):
    shell = "sh" if script.endswith("postrm") else "bash"
    subprocess.run([shell, "-n", str(INSTALLER / script)], check=True)


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_deb_builds_from_a_stand_in_bundle(tmp_path):
    bundle = tmp_path / "dist" / "arcus-desktop"
    bundle.mkdir(parents=True)
    (bundle / "arcus-desktop").write_text("#!/bin/sh\n")
    (bundle / "arcus-desktop").chmod(0o755)
    subprocess.run(["bash", str(INSTALLER / "linux" / "deb.sh")], check=True, capture_output=True,
                   env={"ARCUS_BUILD_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    deb = next(tmp_path.glob("arcus-desktop_*_amd64.deb"))
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], check=True,
                             capture_output=True, text=True).stdout
    for path in ("./opt/arcus-desktop/arcus-desktop", "./usr/bin/arcus-desktop",
                 f"./usr/share/applications/{autostart.APP_ID}.desktop",
                 f"./usr/share/icons/hicolor/scalable/apps/{autostart.APP_ID}.svg"):
        assert path in listing
    assert "etc/xdg/autostart" not in listing  # only with --autostart


@pytest.mark.skipif(bool(debroot.missing_tools()), reason=f"{debroot.missing_tools()}")
def test_deb_installs_into_a_clean_root_and_purge_keeps_user_data(tmp_path):
    """The .deb of a stand-in bundle, installed with dpkg into a throwaway root (the
    maintainer scripts run without chroot, with DPKG_ROOT), then purged.
    tests/bundle/test_installed_deb.py does the same with the real bundle."""
    bundle = tmp_path / "build" / "dist" / "arcus-desktop"
    bundle.mkdir(parents=True)
    (bundle / "arcus-desktop").write_text("#!/bin/sh\necho stand-in\n")
    (bundle / "arcus-desktop").chmod(0o755)
    subprocess.run(["bash", str(INSTALLER / "linux" / "deb.sh"), "--autostart"], check=True,
                   capture_output=True, env={"ARCUS_BUILD_DIR": str(tmp_path / "build"),
                                             "DEB_COMPRESS": "none", "PATH": "/usr/bin:/bin"})
    deb = next((tmp_path / "build").glob("arcus-desktop_*_amd64.deb"))
    root = tmp_path / "root"
    debroot.make_root(root, deb)
    proc = debroot.dpkg(root, "--install", str(deb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert debroot.status(root) == "install ok installed"
    assert (root / "usr/bin/arcus-desktop").readlink() == Path("/opt/arcus-desktop/arcus-desktop")
    assert os.access(root / "opt/arcus-desktop/arcus-desktop", os.X_OK)
    entry = root / "usr/share/applications" / f"{autostart.APP_ID}.desktop"
    assert entry.read_bytes() == (ROOT / "resources/linux" / entry.name).read_bytes()
    assert (root / "etc/xdg/autostart" / entry.name).read_bytes() == entry.read_bytes()
    assert (root / "usr/share/icons/hicolor/scalable/apps" / f"{autostart.APP_ID}.svg").is_file()

    home = root / "home" / "someone"
    kept = debroot.write_user_data(home)
    proc = debroot.dpkg(root, "--purge", "arcus-desktop")
    debroot.check_purged(root, proc, home, kept, [
        "opt/arcus-desktop", "usr/bin/arcus-desktop", "etc/xdg/autostart",
        f"usr/share/applications/{entry.name}"])


def test_iss_uninstall_deletes_the_apps_own_settings_when_asked():
    from arcus_desktop.bridge import settings_store

    iss = _iss()
    key = re.search(r'#define SettingsKey "([^"]+)"', iss).group(1)
    assert key == f"Software\\{settings_store.ORGANIZATION}\\{settings_store.APPLICATION}"
    code = iss.split("[Code]")[1]
    asked = code.split("= IDYES then")[1]
    assert "RegDeleteKeyIncludingSubkeys(HKCU, '{#SettingsKey}')" in asked
    # a moved data folder (the "data/folder" setting) is named, never deleted
    assert "RegQueryStringValue(HKCU, '{#SettingsKey}\\data', 'folder', Moved)" in asked
    assert "DelTree(Moved" not in code
