# Nightly Commvault -> tapesync sync, for Windows Task Scheduler on a host with the Commvault
# command line (qlogin/qlist/qinfo in the Base directory of the installation).
#
#   schtasks /Create /TN "tapesync Commvault" /SC DAILY /ST 06:50 /RU SYSTEM ^
#     /TR "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\tapesync\examples\commvault\sync.ps1"
#
# Logs in, lists the tapes of each library with `qlist media -l LIBRARY`, writes
# `qinfo media -b BARCODE` for each into one report, logs out, syncs the report with
# commvault.ttidef, logs to a file and exits with tapesync's exit code (0 clean, 1 some records
# had errors, 2 usage/IO/internal error).
param(
    [string]$Tapesync = "tapesync.exe",
    [string]$Definition = (Join-Path $PSScriptRoot "commvault.ttidef"),
    [string]$CvBase = "C:\Program Files\Commvault\ContentStore\Base",
    [string]$CommServe = "commserve.example.com",
    [string]$CvUser = "tapesync",
    # A file holding the password of CvUser (readable by the task's account only).
    [string]$PasswordFile = "C:\ProgramData\tapesync\commvault.password",
    [string[]]$Libraries = @("Library1"),
    [string]$WorkDir = "C:\ProgramData\tapesync\commvault",
    [string]$Log = "C:\ProgramData\tapesync\commvault.log",
    [string[]]$Target = @("--store", "C:\ProgramData\tapesync\inventory.db"),
    [string[]]$RunOptions = @(),
    [int]$KeepDays = 14
)

function Write-Log([string]$Message) {
    Add-Content -Path $Log -Value ("{0} commvault: {1}" -f (Get-Date -Format "yyyy-MM-dd HH:mm:ss"), $Message)
}

New-Item -ItemType Directory -Force -Path $WorkDir, (Split-Path $Log) | Out-Null
$stamp = Get-Date -Format "yyyyMMdd-HHmmss"
$report = Join-Path $WorkDir "qinfo-$stamp.txt"
try {
    $password = (Get-Content -Path $PasswordFile -ErrorAction Stop | Select-Object -First 1).Trim()
} catch {
    Write-Log "cannot read ${PasswordFile}: $_; nothing synced"
    exit 2
}

& (Join-Path $CvBase "qlogin.exe") -cs $CommServe -u $CvUser -clp $password *>> $Log
if ($LASTEXITCODE -ne 0) {
    Write-Log "qlogin to $CommServe failed; nothing synced"
    exit 2
}

$lines = New-Object System.Collections.Generic.List[string]
$failed = $false
foreach ($library in $Libraries) {
    Write-Log "listing the media of library '$library'"
    $listing = & (Join-Path $CvBase "qlist.exe") media -l $library 2>> $Log
    if ($LASTEXITCODE -ne 0) {
        Write-Log "qlist media -l '$library' failed"
        $failed = $true
        continue
    }
    # The first word of every line after the dashed ruler is a barcode.
    $afterRuler = $false
    foreach ($line in $listing) {
        if ($afterRuler -and $line.Trim()) {
            $barcode = ($line.Trim() -split '\s+')[0]
            $info = & (Join-Path $CvBase "qinfo.exe") media -b $barcode 2>> $Log
            if ($LASTEXITCODE -ne 0) {
                Write-Log "qinfo media -b $barcode failed"
                $failed = $true
            }
            $lines.AddRange([string[]]$info)
            $lines.Add("")
        }
        if ($line -match '^-+') { $afterRuler = $true }
    }
}
& (Join-Path $CvBase "qlogout.exe") *>> $Log

if ($failed) {
    Write-Log "an export failed; nothing synced (a partial report would look like missing tapes)"
    exit 2
}
# ASCII: no byte-order mark in front of the first line.
$lines | Out-File -FilePath $report -Encoding ascii

Write-Log "syncing $report"
$stats = Join-Path $WorkDir "stats-$stamp.json"
& $Tapesync run --definition $Definition --input $report @Target @RunOptions --stats-json $stats *>> $Log
$rc = $LASTEXITCODE
Write-Log "tapesync finished with exit code $rc"

Get-ChildItem -Path $WorkDir -Include "qinfo-*.txt", "stats-*.json" -Recurse |
    Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-$KeepDays) } |
    Remove-Item -Force -ErrorAction SilentlyContinue
exit $rc
