# Nightly Data Protector -> tapesync sync, for Windows Task Scheduler on the Cell Manager.
#
#   schtasks /Create /TN "tapesync Data Protector" /SC DAILY /ST 06:40 /RU SYSTEM ^
#     /TR "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\tapesync\examples\data-protector\sync.ps1"
#
# Lists the media pools (`omnimm -list_pools`, or -Pools), concatenates `omnimm -list_pool POOL`
# for each, syncs the result with data-protector.ttidef, logs to a file and exits with
# tapesync's exit code (0 clean, 1 some records had errors, 2 usage/IO/internal error).
param(
    [string]$Tapesync = "tapesync.exe",
    [string]$Definition = (Join-Path $PSScriptRoot "data-protector.ttidef"),
    [string]$OmniMm = "C:\Program Files\OmniBack\bin\omnimm.exe",
    # Pools to export; empty: every pool whose media type matches -PoolMediaType.
    [string[]]$Pools = @(),
    [string]$PoolMediaType = "LTO*",
    [string]$WorkDir = "C:\ProgramData\tapesync\data-protector",
    [string]$Log = "C:\ProgramData\tapesync\data-protector.log",
    [string[]]$Target = @("--store", "C:\ProgramData\tapesync\inventory.db"),
    [string[]]$RunOptions = @(),
    [int]$KeepDays = 14
)

function Write-Log([string]$Message) {
    Add-Content -Path $Log -Value ("{0} data-protector: {1}" -f (Get-Date -Format "yyyy-MM-dd HH:mm:ss"), $Message)
}

New-Item -ItemType Directory -Force -Path $WorkDir, (Split-Path $Log) | Out-Null
$stamp = Get-Date -Format "yyyyMMdd-HHmmss"
$report = Join-Path $WorkDir "omnimm-$stamp.txt"

if ($Pools.Count -eq 0) {
    # Fixed-width listing: status (8 characters), pool name (26), media type (18), ...
    $listing = & $OmniMm -list_pools 2>> $Log
    if ($LASTEXITCODE -ne 0) {
        Write-Log "omnimm -list_pools failed; nothing synced"
        exit 2
    }
    $Pools = $listing |
        Where-Object { $_.Length -ge 9 -and $_ -notmatch '^(Status|==)' } |
        ForEach-Object {
            $name = $_.Substring(8, [Math]::Min(26, $_.Length - 8)).TrimEnd()
            $media = if ($_.Length -gt 34) { $_.Substring(34, [Math]::Min(18, $_.Length - 34)).TrimEnd() } else { "" }
            if ($media -like $PoolMediaType) { $name }
        }
}

$lines = New-Object System.Collections.Generic.List[string]
foreach ($pool in $Pools) {
    Write-Log "exporting pool '$pool'"
    $output = & $OmniMm -list_pool $pool 2>> $Log
    if ($LASTEXITCODE -ne 0) {
        Write-Log "omnimm -list_pool '$pool' failed; nothing synced (a partial report would look like missing tapes)"
        exit 2
    }
    $lines.AddRange([string[]]$output)
    $lines.Add("")   # a blank line between pools; the definition skips the repeated headings
}
# ASCII: no byte-order mark in front of the first line.
$lines | Out-File -FilePath $report -Encoding ascii

Write-Log "syncing $report"
$stats = Join-Path $WorkDir "stats-$stamp.json"
& $Tapesync run --definition $Definition --input $report @Target @RunOptions --stats-json $stats *>> $Log
$rc = $LASTEXITCODE
Write-Log "tapesync finished with exit code $rc"

Get-ChildItem -Path $WorkDir -Include "omnimm-*.txt", "stats-*.json" -Recurse |
    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$KeepDays) } |
    Remove-Item -Force -ErrorAction SilentlyContinue
exit $rc
