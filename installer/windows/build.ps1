# Build both Windows flavours: for each, the bundle, its smoke test, then the installer
# (Inno Setup 6's iscc on PATH). From the repository root:
#   powershell -File installer\windows\build.ps1 [-Flavour both|client|full]
# client: Arcus Desktop Client (team server only, no torch: small); full: the app that can
# run the model on this PC's NVIDIA GPU. Setups land in build\installer.
# Sign with: -Sign "signtool sign /fd sha256 /tr http://timestamp.digicert.com /td sha256 /a `$f"
# NOT RUN YET: written without a Windows machine (see README, Installers).
param([string]$Python = "python", [string]$Sign = "", [string]$Flavour = "both")
$ErrorActionPreference = "Stop"
$flavours = if ($Flavour -eq "both") { @("client", "full") } else { @($Flavour) }
$version = (Select-String -Path arcus_desktop\__init__.py -Pattern '__version__ = "(.*)"').Matches[0].Groups[1].Value
foreach ($f in $flavours) {
    if ($f -notin @("client", "full")) { throw "-Flavour $f: use both, client or full" }
    $dist = if ($f -eq "client") { "arcus-desktop-client" } else { "arcus-desktop" }
    $env:ARCUS_FLAVOUR = $f
    & $Python -m PyInstaller --noconfirm --clean --workpath "build\work-$f" --distpath build\dist build.spec
    if ($LASTEXITCODE) { throw "PyInstaller failed ($f)" }
    $env:QT_QPA_PLATFORM = "offscreen"
    # The client's smoke test holds a conversation with $env:ARCUS_SMOKE_SERVER when set,
    # else codes Opus both ways only.
    $log = & "build\dist\$dist\arcus-desktop.exe" --smoke-test 2>&1 | Out-String
    Write-Output $log
    if ($LASTEXITCODE -or $log -notmatch "ARCUS SMOKE TEST PASSED" -or $log -match "Traceback") {
        throw "smoke test failed ($f)"
    }
    $isccArgs = @("/DAppVersion=$version", "/DBundleDir=..\..\build\dist\$dist")
    if ($f -eq "client") { $isccArgs += "/DClient" }
    if ($Sign) { $isccArgs += @("/DSIGN", "/Sarcus=$Sign") }
    & iscc @isccArgs installer\windows\arcus.iss
    if ($LASTEXITCODE) { throw "iscc failed ($f)" }
}
Remove-Item Env:ARCUS_FLAVOUR
Get-ChildItem build\installer
