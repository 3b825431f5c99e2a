# Nightly Veeam Backup & Replication -> tapesync sync, for Windows Task Scheduler on the Veeam
# backup server.
#
#   schtasks /Create /TN "tapesync Veeam" /SC DAILY /ST 07:10 /RU SYSTEM ^
#     /TR "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\tapesync\examples\veeam\sync.ps1"
#
# Exports every tape with Get-VBRTapeMedium to CSV, syncs it with veeam.ttidef, logs to a file
# and exits with tapesync's exit code (0 clean, 1 some records had errors, 2 usage/IO/internal
# error). With -ExportOnly it only writes the CSV (e.g. to a share that a UNIX host running
# sync.sh reads).
param(
    [string]$Tapesync = "tapesync.exe",
    [string]$Definition = (Join-Path $PSScriptRoot "veeam.ttidef"),
    [string]$WorkDir = "C:\ProgramData\tapesync\veeam",
    [string]$Log = "C:\ProgramData\tapesync\veeam.log",
    [string[]]$Target = @("--store", "C:\ProgramData\tapesync\inventory.db"),
    [string[]]$RunOptions = @(),
    [switch]$ExportOnly,
    [int]$KeepDays = 14
)

function Write-Log([string]$Message) {
    Add-Content -Path $Log -Value ("{0} veeam: {1}" -f (Get-Date -Format "yyyy-MM-dd HH:mm:ss"), $Message)
}

# Dates in ISO form whatever the Windows locale; empty when there is none.
function Format-Date($Value, [string]$Format) {
    if ($null -eq $Value) { return "" }
    return $Value.ToString($Format, [System.Globalization.CultureInfo]::InvariantCulture)
}

New-Item -ItemType Directory -Force -Path $WorkDir, (Split-Path $Log) | Out-Null
$stamp = Get-Date -Format "yyyyMMdd-HHmmss"
$report = Join-Path $WorkDir "tapes-$stamp.csv"

Write-Log "exporting with Get-VBRTapeMedium"
try {
    # Veeam 11+ ships a module; older versions a snap-in.
    if (Get-Module -ListAvailable -Name Veeam.Backup.PowerShell) {
        Import-Module Veeam.Backup.PowerShell -ErrorAction Stop
    } else {
        Add-PSSnapin VeeamPSSnapin -ErrorAction Stop
    }
    # Media pool names by id (a tape only carries its pool's id).
    $pools = @{}
    Get-VBRTapeMediaPool -ErrorAction Stop | ForEach-Object { $pools[$_.Id] = $_.Name }
    # Select the columns explicitly: their order is what the definition's column numbers mean.
    Get-VBRTapeMedium -ErrorAction Stop |
        Select-Object Barcode, Name,
            @{ Name = "MediaPool"; Expression = { $pools[$_.MediaPoolId] } },
            @{ Name = "Location"; Expression = { "$($_.Location.Type)" } },
            IsFree, IsExpired, IsFull, IsRetired,
            @{ Name = "ExpirationDate"; Expression = { Format-Date $_.ExpirationDate "yyyy-MM-dd" } },
            @{ Name = "LastWriteTime"; Expression = { Format-Date $_.LastWriteTime "yyyy-MM-dd HH:mm:ss" } },
            CleaningCyclesLeft, Description |
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

Get-ChildItem -Path $WorkDir -Include "tapes-*.csv", "stats-*.json" -Recurse |
    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$KeepDays) } |
    Remove-Item -Force -ErrorAction SilentlyContinue
exit $rc
