#!/bin/sh
# Nightly Commvault -> tapesync sync, for cron on a host with the Commvault command line
# (qlogin/qlist/qinfo, in the Base directory of the installation).
#
#   50 6 * * *  /opt/tapesync/examples/commvault/sync.sh
#
# Logs in, lists the tapes of each library with `qlist media -l LIBRARY`, writes
# `qinfo media -b BARCODE` for each into one report (a blank line between the blocks), logs
# out, syncs the report with commvault.ttidef, logs to a file and exits with tapesync's exit
# code (0 clean, 1 some records had errors, 2 usage/IO/internal error).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TAPESYNC=${TAPESYNC:-tapesync}
DEFINITION=${DEFINITION:-$HERE/commvault.ttidef}
CV_BASE=${CV_BASE:-/opt/commvault/Base}
COMMSERVE=${COMMSERVE:-commserve.example.com}
CV_USER=${CV_USER:-tapesync}
# A file holding the password of CV_USER (readable by this user only).
CV_PASSWORD_FILE=${CV_PASSWORD_FILE:-/etc/tapesync/commvault.password}
# Tape libraries to list, separated by `;` (names may contain blanks).
LIBRARIES=${LIBRARIES:-Library1}
WORKDIR=${WORKDIR:-/var/lib/tapesync/commvault}
LOG=${LOG:-/var/log/tapesync/commvault.log}
TARGET=${TARGET:---store /var/lib/tapesync/inventory.db}
RUN_OPTS=${RUN_OPTS:-}
KEEP_DAYS=${KEEP_DAYS:-14}

mkdir -p "$WORKDIR" "$(dirname "$LOG")" || exit 2
stamp=$(date +%Y%m%d-%H%M%S)
report="$WORKDIR/qinfo-$stamp.txt"
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') commvault: $*" >>"$LOG"; }

if ! password=$(cat "$CV_PASSWORD_FILE" 2>>"$LOG"); then
    log "cannot read $CV_PASSWORD_FILE; nothing synced"
    exit 2
fi
if ! "$CV_BASE/qlogin" -cs "$COMMSERVE" -u "$CV_USER" -clp "$password" >>"$LOG" 2>&1; then
    log "qlogin to $COMMSERVE failed; nothing synced"
    exit 2
fi

: >"$report"
failed=0
old_ifs=$IFS
IFS=';'
for library in $LIBRARIES; do
    IFS=$old_ifs
    [ -n "$library" ] || continue
    log "listing the media of library '$library'"
    if ! listing=$("$CV_BASE/qlist" media -l "$library" 2>>"$LOG"); then
        log "qlist media -l '$library' failed"
        failed=1
        continue
    fi
    # The first word of every line after the dashed ruler is a barcode.
    barcodes=$(printf '%s\n' "$listing" | awk 'ruler && NF { print $1 } /^-+/ { ruler = 1 }')
    for barcode in $barcodes; do
        if ! "$CV_BASE/qinfo" media -b "$barcode" >>"$report" 2>>"$LOG"; then
            log "qinfo media -b $barcode failed"
            failed=1
        fi
        echo >>"$report"
    done
done
IFS=$old_ifs
"$CV_BASE/qlogout" >>"$LOG" 2>&1

if [ "$failed" -ne 0 ]; then
    log "an export failed; nothing synced (a partial report would look like missing tapes)"
    exit 2
fi

log "syncing $report"
# shellcheck disable=SC2086 # TARGET and RUN_OPTS are lists of words on purpose
"$TAPESYNC" run --definition "$DEFINITION" --input "$report" $TARGET $RUN_OPTS \
    --stats-json "$WORKDIR/stats-$stamp.json" >>"$LOG" 2>&1
rc=$?
log "tapesync finished with exit code $rc"

find "$WORKDIR" \( -name 'qinfo-*.txt' -o -name 'stats-*.json' \) -mtime +"$KEEP_DAYS" \
    -exec rm -f {} + 2>/dev/null
exit $rc
