#!/bin/sh
# Nightly NetBackup -> tapesync sync, for cron on the NetBackup primary (master) server.
#
#   15 6 * * *  /opt/tapesync/examples/netbackup/sync.sh
#
# Exports the media database with `vmquery -a -w`, syncs it with `tapesync run`, appends
# everything to a log file and exits with tapesync's exit code (0 clean, 1 some records had
# errors, 2 usage/IO/internal error) so that cron mail or a monitoring wrapper sees failures.
# Every setting can be overridden from the environment.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TAPESYNC=${TAPESYNC:-tapesync}
DEFINITION=${DEFINITION:-$HERE/netbackup.ttidef}
VMQUERY=${VMQUERY:-/usr/openv/volmgr/bin/vmquery}
WORKDIR=${WORKDIR:-/var/lib/tapesync/netbackup}
LOG=${LOG:-/var/log/tapesync/netbackup.log}
# Where the inventory lives: an embedded store file, or a server (see `tapesync run --help`).
TARGET=${TARGET:---store /var/lib/tapesync/inventory.db}
# Extra options, e.g. "--add-new" for the first run, so that unknown volumes are created.
RUN_OPTS=${RUN_OPTS:-}
# Reports older than this many days are deleted.
KEEP_DAYS=${KEEP_DAYS:-14}

mkdir -p "$WORKDIR" "$(dirname "$LOG")" || exit 2
stamp=$(date +%Y%m%d-%H%M%S)
report="$WORKDIR/vmquery-$stamp.txt"
stats="$WORKDIR/stats-$stamp.json"

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') netbackup: $*" >>"$LOG"; }

log "exporting with $VMQUERY -a -w"
if ! "$VMQUERY" -a -w >"$report" 2>>"$LOG"; then
    log "export failed; nothing synced"
    exit 2
fi

log "syncing $report"
# shellcheck disable=SC2086 # TARGET and RUN_OPTS are lists of words on purpose
"$TAPESYNC" run --definition "$DEFINITION" --input "$report" $TARGET $RUN_OPTS \
    --stats-json "$stats" >>"$LOG" 2>&1
rc=$?
log "tapesync finished with exit code $rc"

find "$WORKDIR" -name 'vmquery-*.txt' -mtime +"$KEEP_DAYS" -exec rm -f {} + 2>/dev/null
find "$WORKDIR" -name 'stats-*.json' -mtime +"$KEEP_DAYS" -exec rm -f {} + 2>/dev/null
exit $rc
