# Build the Windows bundle, run its smoke test, then the installer (Inno Setup 6's iscc
# on PATH). From the repository root:  powershell -File installer\windows\build.ps1
# Sign with: -Sign "signtool sign /fd sha256 /tr http://timestamp.digicert.com /td sha256 /a `$f"
param([string]$Python = "python", [string]$Sign = "")
$ErrorActionPreference = "Stop"
& $Python -m PyInstaller --noconfirm --clean --workpath build\work --distpath build\dist build.spec
if ($LASTEXITCODE) { throw "PyInstaller failed" }
$env:QT_QPA_PLATFORM = "offscreen"
$log = & build\dist\arcus-desktop\arcus-desktop.exe --smoke-test 2>&1 | Out-String
Write-Output $log
if ($LASTEXITCODE -or $log -notmatch "ARCUS SMOKE TEST PASSED" -or $log -match "Traceback") {
    throw "smoke test failed"
}
$version = (Select-String -Path arcus_desktop\__init__.py -Pattern '__version__ = "(.*)"').Matches[0].Groups[1].Value
$isccArgs = @("/DAppVersion=$version")
if ($Sign) { $isccArgs += @("/DSIGN", "/Sarcus=$Sign") }
& iscc @isccArgs installer\windows\arcus.iss
if ($LASTEXITCODE) { throw "iscc failed" }
