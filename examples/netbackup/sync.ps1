# Nightly NetBackup -> tapesync sync, for Windows Task Scheduler on the NetBackup primary server.
#
#   schtasks /Create /TN "tapesync NetBackup" /SC DAILY /ST 06:15 /RU SYSTEM ^
#     /TR "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\tapesync\examples\netbackup\sync.ps1"
#
# Exports the media database with `vmquery -a -w`, syncs it with `tapesync run`, appends
# everything to a log file and exits with tapesync's exit code (0 clean, 1 some records had
# errors, 2 usage/IO/internal error); Task Scheduler shows it as "Last Run Result".
param(
    [string]$Tapesync = "tapesync.exe",
    [string]$Definition = (Join-Path $PSScriptRoot "netbackup.ttidef"),
    [string]$VmQuery = "C:\Program Files\Veritas\Volmgr\bin\vmquery.exe",
    [string]$WorkDir = "C:\ProgramData\tapesync\netbackup",
    [string]$Log = "C:\ProgramData\tapesync\netbackup.log",
    # Where the inventory lives: an embedded store file, or a server (see `tapesync run --help`).
    [string[]]$Target = @("--store", "C:\ProgramData\tapesync\inventory.db"),
    # Extra options, e.g. @("--add-new") for the first run.
    [string[]]$RunOptions = @(),
    [int]$KeepDays = 14
)

function Write-Log([string]$Message) {
    Add-Content -Path $Log -Value ("{0} netbackup: {1}" -f (Get-Date -Format "yyyy-MM-dd HH:mm:ss"), $Message)
}

New-Item -ItemType Directory -Force -Path $WorkDir, (Split-Path $Log) | Out-Null
$stamp = Get-Date -Format "yyyyMMdd-HHmmss"
$report = Join-Path $WorkDir "vmquery-$stamp.txt"
$stats = Join-Path $WorkDir "stats-$stamp.json"

Write-Log "exporting with $VmQuery -a -w"
# ASCII: no byte-order mark in front of the first line.
& $VmQuery -a -w 2>> $Log | Out-File -FilePath $report -Encoding ascii
if ($LASTEXITCODE -ne 0) {
    Write-Log "export failed (exit code $LASTEXITCODE); nothing synced"
    exit 2
}

Write-Log "syncing $report"
& $Tapesync run --definition $Definition --input $report @Target @RunOptions --stats-json $stats *>> $Log
$rc = $LASTEXITCODE
Write-Log "tapesync finished with exit code $rc"

Get-ChildItem -Path $WorkDir -Include "vmquery-*.txt", "stats-*.json" -Recurse |
    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$KeepDays) } |
    Remove-Item -Force -ErrorAction SilentlyContinue
exit $rc
