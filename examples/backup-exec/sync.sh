#!/bin/sh
# Backup Exec -> tapesync sync for cron on a UNIX host that keeps the inventory.
#
#   15 7 * * *  /opt/tapesync/examples/backup-exec/sync.sh
#
# Backup Exec and its PowerShell module (BEMCLI) run on Windows only, so the export happens
# there: schedule `sync.ps1 -ExportOnly -WorkDir \\share\tapesync\backup-exec` on the Backup
# Exec server, mount the share here as DROPDIR, and this script syncs the newest CSV it finds.
# Logs to a file and exits with tapesync's exit code (0 clean, 1 some records had errors,
# 2 usage/IO/internal error, also when no fresh export is there).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TAPESYNC=${TAPESYNC:-tapesync}
DEFINITION=${DEFINITION:-$HERE/backup-exec.ttidef}
DROPDIR=${DROPDIR:-/mnt/backup-exec-export}
# An export older than this many minutes is stale: better no sync than yesterday's state.
MAX_AGE_MIN=${MAX_AGE_MIN:-120}
LOG=${LOG:-/var/log/tapesync/backup-exec.log}
TARGET=${TARGET:---store /var/lib/tapesync/inventory.db}
RUN_OPTS=${RUN_OPTS:-}

mkdir -p "$(dirname "$LOG")" || exit 2
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') backup-exec: $*" >>"$LOG"; }

# shellcheck disable=SC2012 # names are bemedia-YYYYMMDD-HHMMSS.csv, no odd characters
report=$(ls -1 "$DROPDIR"/bemedia-*.csv 2>/dev/null | sort | tail -n 1)
if [ -z "$report" ]; then
    log "no bemedia-*.csv in $DROPDIR; nothing synced"
    exit 2
fi
if [ -z "$(find "$report" -mmin -"$MAX_AGE_MIN" 2>/dev/null)" ]; then
    log "$report is older than $MAX_AGE_MIN minutes; nothing synced"
    exit 2
fi

log "syncing $report"
# shellcheck disable=SC2086 # TARGET and RUN_OPTS are lists of words on purpose
"$TAPESYNC" run --definition "$DEFINITION" --input "$report" $TARGET $RUN_OPTS \
    --stats-json "${report%.csv}.stats.json" >>"$LOG" 2>&1
rc=$?
log "tapesync finished with exit code $rc"
exit $rc
