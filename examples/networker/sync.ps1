# Nightly NetWorker -> tapesync sync, for Windows Task Scheduler on the NetWorker server.
#
#   schtasks /Create /TN "tapesync NetWorker" /SC DAILY /ST 06:20 /RU SYSTEM ^
#     /TR "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\tapesync\examples\networker\sync.ps1"
#
# -Report xc (default): `mminfo -a -xc, -r '...' -q family=tape` synced with networker-xc.ttidef;
# -Report m: `mminfo -m` synced with networker.ttidef. Logs to a file and exits with
# tapesync's exit code (0 clean, 1 some records had errors, 2 usage/IO/internal error).
param(
    [ValidateSet("xc", "m")][string]$Report = "xc",
    [string]$Tapesync = "tapesync.exe",
    [string]$MmInfo = "C:\Program Files\EMC NetWorker\nsr\bin\mminfo.exe",
    [string]$NsrServer = "",
    [string]$WorkDir = "C:\ProgramData\tapesync\networker",
    [string]$Log = "C:\ProgramData\tapesync\networker.log",
    [string[]]$Target = @("--store", "C:\ProgramData\tapesync\inventory.db"),
    [string[]]$RunOptions = @(),
    [int]$KeepDays = 14
)

function Write-Log([string]$Message) {
    Add-Content -Path $Log -Value ("{0} networker: {1}" -f (Get-Date -Format "yyyy-MM-dd HH:mm:ss"), $Message)
}

New-Item -ItemType Directory -Force -Path $WorkDir, (Split-Path $Log) | Out-Null
$stamp = Get-Date -Format "yyyyMMdd-HHmmss"
$stats = Join-Path $WorkDir "stats-$stamp.json"
$server = @()
if ($NsrServer) { $server = @("-s", $NsrServer) }

if ($Report -eq "xc") {
    $definition = Join-Path $PSScriptRoot "networker-xc.ttidef"
    $file = Join-Path $WorkDir "mminfo-xc-$stamp.csv"
    $arguments = $server + @("-a", "-xc,", "-r", "volume,pool,location,volretent,written,%used,barcode", "-q", "family=tape")
} else {
    $definition = Join-Path $PSScriptRoot "networker.ttidef"
    $file = Join-Path $WorkDir "mminfo-m-$stamp.txt"
    $arguments = $server + @("-m", "-q", "family=tape")
}

Write-Log "exporting with mminfo $($arguments -join ' ')"
# ASCII: no byte-order mark in front of the first line.
& $MmInfo @arguments 2>> $Log | Out-File -FilePath $file -Encoding ascii
if ($LASTEXITCODE -ne 0) {
    Write-Log "export failed (exit code $LASTEXITCODE); nothing synced"
    exit 2
}

Write-Log "syncing $file with $definition"
& $Tapesync run --definition $definition --input $file @Target @RunOptions --stats-json $stats *>> $Log
$rc = $LASTEXITCODE
Write-Log "tapesync finished with exit code $rc"

Get-ChildItem -Path $WorkDir -Include "mminfo-*", "stats-*.json" -Recurse |
    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$KeepDays) } |
    Remove-Item -Force -ErrorAction SilentlyContinue
exit $rc
