; Inno Setup script for Arcus Desktop: a per-user install (no administrator rights) of
; the PyInstaller onedir bundle. Build the bundle first (installer/windows/build.ps1 does
; both). Signing: pass /DSIGN and a sign tool named "arcus" to iscc, e.g.
;   iscc /DSIGN "/Sarcus=signtool sign /fd sha256 /tr http://timestamp.digicert.com /td sha256 /a $f" arcus.iss

; /DClient: Arcus Desktop Client (build.spec with ARCUS_FLAVOUR=client). Both flavours
; share the AppId, so installing one replaces the other, settings and data kept.
#ifdef Client
  #define AppName "Arcus Desktop Client"
  #define SetupName "ArcusDesktopClient"
#else
  #define AppName "Arcus Desktop"
  #define SetupName "ArcusDesktop"
#endif
#define AppId "io.arcus.ArcusDesktop"
#define AppExe "arcus-desktop.exe"
; Where QSettings keeps the app's settings on Windows (bridge/settings_store.py).
#define SettingsKey "Software\Arcus\arcus-desktop"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\build\dist\arcus-desktop"
#endif

[Setup]
AppId={{6C2F3E1A-8E0B-4C57-9B1D-A7C5D3E2F410}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Arcus team
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\build\installer
OutputBaseFilename={#SetupName}-{#AppVersion}-setup
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/fast
SolidCompression=no
#ifndef Client
; torch's CUDA libraries make the bundle larger than one setup file may be (about 2 GB):
; spanning writes setup.exe plus setup-N.bin slices that ship together. The client fits
; in one setup.exe.
DiskSpanning=yes
DiskSliceSize=max
#endif
WizardStyle=modern
#ifdef SIGN
SignTool=arcus
SignedUninstaller=yes
#endif

[Tasks]
Name: "desktopicon"; Description: "Create a &desktop shortcut"; Flags: unchecked
Name: "autostart"; Description: "Start Arcus when I sign in"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; The same value the app's own autostart setting writes (arcus_desktop/settings/autostart.py).
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; \
  ValueName: "{#AppId}"; ValueData: """{app}\{#AppExe}"""; Tasks: autostart; Flags: uninsdeletevalue

[Run]
Filename: "{app}\{#AppExe}"; Description: "Start {#AppName}"; Flags: nowait postinstall skipifsilent

[Code]
// Uninstalling keeps memories, recordings and settings unless the user asks otherwise.
// A data folder moved in Settings is the user's own choice of place (it may hold other
// files): it is named, never deleted.
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Moved: String;
begin
  if (CurUninstallStep = usPostUninstall) and not UninstallSilent then
    if MsgBox('Also delete your Arcus memories, recordings and settings?', mbConfirmation,
              MB_YESNO or MB_DEFBUTTON2) = IDYES then
    begin
      if not RegQueryStringValue(HKCU, '{#SettingsKey}\data', 'folder', Moved) then
        Moved := '';
      DelTree(ExpandConstant('{localappdata}\arcus-desktop'), True, True, True);
      RegDeleteKeyIncludingSubkeys(HKCU, '{#SettingsKey}');
      RegDeleteKeyIfEmpty(HKCU, 'Software\Arcus');
      if Moved <> '' then
        MsgBox('Your Arcus data folder was moved to ' + Moved + ' and has been left there: ' +
               'delete it yourself if you no longer want it. Saved tokens are in Windows ' +
               'Credential Manager under "arcus-desktop".', mbInformation, MB_OK);
    end;
end;
