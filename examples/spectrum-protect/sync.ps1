# Nightly Spectrum Protect (TSM) -> tapesync sync, for Windows Task Scheduler on a host with
# the administrative client (dsmadmc.exe).
#
#   schtasks /Create /TN "tapesync Spectrum Protect" /SC DAILY /ST 06:30 /RU SYSTEM ^
#     /TR "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\tapesync\examples\spectrum-protect\sync.ps1"
#
# Syncs `query libvolume` (list layout, spectrum-protect-list.ttidef) and, unless -NoDrm,
# `query drmedia` (spectrum-protect-drm.ttidef). Logs to a file; exits with the worst tapesync
# exit code (0 clean, 1 some records had errors, 2 usage/IO/internal error).
param(
    [string]$Tapesync = "tapesync.exe",
    [string]$DsmAdmc = "C:\Program Files\Tivoli\TSM\baclient\dsmadmc.exe",
    [string]$TsmId = "tapesync",
    # A file holding the administrator's password (readable by the task's account only).
    [string]$PasswordFile = "C:\ProgramData\tapesync\tsm.password",
    [switch]$NoDrm,
    [string]$WorkDir = "C:\ProgramData\tapesync\spectrum-protect",
    [string]$Log = "C:\ProgramData\tapesync\spectrum-protect.log",
    [string[]]$Target = @("--store", "C:\ProgramData\tapesync\inventory.db"),
    [string[]]$RunOptions = @(),
    [int]$KeepDays = 14
)

function Write-Log([string]$Message) {
    Add-Content -Path $Log -Value ("{0} spectrum-protect: {1}" -f (Get-Date -Format "yyyy-MM-dd HH:mm:ss"), $Message)
}

New-Item -ItemType Directory -Force -Path $WorkDir, (Split-Path $Log) | Out-Null
$stamp = Get-Date -Format "yyyyMMdd-HHmmss"
try {
    $password = (Get-Content -Path $PasswordFile -ErrorAction Stop | Select-Object -First 1).Trim()
} catch {
    Write-Log "cannot read ${PasswordFile}: $_; nothing synced"
    exit 2
}

$script:worst = 0
function Sync-Report([string]$Name, [string]$Definition, [string[]]$Arguments) {
    $report = Join-Path $WorkDir "$Name-$stamp.txt"
    Write-Log "exporting: dsmadmc $($Arguments -join ' ')"
    # ASCII: no byte-order mark in front of the first line.
    & $DsmAdmc "-id=$TsmId" "-password=$password" "-dataonly=yes" @Arguments 2>> $Log |
        Out-File -FilePath $report -Encoding ascii
    if ($LASTEXITCODE -ne 0) {
        Write-Log "export $Name failed (exit code $LASTEXITCODE); not synced"
        $script:worst = 2
        return
    }
    $stats = Join-Path $WorkDir "stats-$Name-$stamp.json"
    & $Tapesync run --definition $Definition --input $report @Target @RunOptions --stats-json $stats *>> $Log
    $rc = $LASTEXITCODE
    Write-Log "tapesync ($Name) finished with exit code $rc"
    if ($rc -gt $script:worst) { $script:worst = $rc }
}

Sync-Report "libvolume" (Join-Path $PSScriptRoot "spectrum-protect-list.ttidef") @("-displaymode=list", "query libvolume")
if (-not $NoDrm) {
    Sync-Report "drmedia" (Join-Path $PSScriptRoot "spectrum-protect-drm.ttidef") @("-commadelimited", "query drmedia * wherestate=all")
}

Get-ChildItem -Path $WorkDir -Include "*.txt", "*.json" -Recurse |
    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$KeepDays) } |
    Remove-Item -Force -ErrorAction SilentlyContinue
exit $script:worst
