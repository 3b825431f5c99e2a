# Nightly Backup Exec -> tapesync sync, for Windows Task Scheduler on the Backup Exec server.
#
#   schtasks /Create /TN "tapesync Backup Exec" /SC DAILY /ST 07:00 /RU SYSTEM ^
#     /TR "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\tapesync\examples\backup-exec\sync.ps1"
#
# Exports every medium with BEMCLI (Get-BEMedia) to CSV, syncs it with backup-exec.ttidef, logs
# to a file and exits with tapesync's exit code (0 clean, 1 some records had errors, 2
# usage/IO/internal error). With -ExportOnly it only writes the CSV (e.g. to a share that a
# UNIX host running sync.sh reads).
param(
    [string]$Tapesync = "tapesync.exe",
    [string]$Definition = (Join-Path $PSScriptRoot "backup-exec.ttidef"),
    [string]$WorkDir = "C:\ProgramData\tapesync\backup-exec",
    [string]$Log = "C:\ProgramData\tapesync\backup-exec.log",
    [string[]]$Target = @("--store", "C:\ProgramData\tapesync\inventory.db"),
    [string[]]$RunOptions = @(),
    [switch]$ExportOnly,
    [int]$KeepDays = 14
)

function Write-Log([string]$Message) {
    Add-Content -Path $Log -Value ("{0} backup-exec: {1}" -f (Get-Date -Format "yyyy-MM-dd HH:mm:ss"), $Message)
}

# A date as yyyy-MM-dd HH:mm:ss whatever the Windows locale; empty when there is none (Backup
# Exec reports never-set dates as DateTime.MinValue, year 1).
function Format-Date($Value) {
    if ($null -eq $Value -or $Value.Year -le 1) { return "" }
    return $Value.ToString("yyyy-MM-dd HH:mm:ss", [System.Globalization.CultureInfo]::InvariantCulture)
}

New-Item -ItemType Directory -Force -Path $WorkDir, (Split-Path $Log) | Out-Null
$stamp = Get-Date -Format "yyyyMMdd-HHmmss"
$report = Join-Path $WorkDir "bemedia-$stamp.csv"

Write-Log "exporting with Get-BEMedia"
try {
    Import-Module BEMCLI -ErrorAction Stop
    # Select the columns explicitly: their order is what the definition's column numbers mean.
    Get-BEMedia -ErrorAction Stop |
        Select-Object Name,
            @{ Name = "MediaSet"; Expression = { "$($_.MediaSet)" } },
            LocationName,
            @{ Name = "AllocatedDate"; Expression = { Format-Date $_.AllocatedDate } },
            AvailableCapacityBytes |
        Export-Csv -Path $report -NoTypeInformation -Encoding UTF8 -ErrorAction Stop
} catch {
    Write-Log "export failed: $_; nothing synced"
    exit 2
}
if ($ExportOnly) {
    Write-Log "exported $report"
    exit 0
}

Write-Log "syncing $report"
$stats = Join-Path $WorkDir "stats-$stamp.json"
& $Tapesync run --definition $Definition --input $report @Target @RunOptions --stats-json $stats *>> $Log
$rc = $LASTEXITCODE
Write-Log "tapesync finished with exit code $rc"

Get-ChildItem -Path $WorkDir -Include "bemedia-*.csv", "stats-*.json" -Recurse |
    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$KeepDays) } |
    Remove-Item -Force -ErrorAction SilentlyContinue
exit $rc
