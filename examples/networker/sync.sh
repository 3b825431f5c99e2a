#!/bin/sh
# Nightly NetWorker -> tapesync sync, for cron on the NetWorker server.
#
#   20 6 * * *  /opt/tapesync/examples/networker/sync.sh
#
# REPORT=xc (default) exports
#   mminfo -a -xc, -r 'volume,pool,location,volretent,written,%used,barcode' -q family=tape
# and syncs it with networker-xc.ttidef (location, pool, scratch, expiry, usage);
# REPORT=m exports `mminfo -m` and syncs it with networker.ttidef (scratch, expiry, usage,
# mounts — no location).
# Everything goes to a log file; the exit code is tapesync's (0 clean, 1 some records had
# errors, 2 usage/IO/internal error). Every setting can be overridden from the environment.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TAPESYNC=${TAPESYNC:-tapesync}
REPORT=${REPORT:-xc}
MMINFO=${MMINFO:-/usr/sbin/mminfo}
# The NetWorker server to ask (empty: the local one).
NSR_SERVER=${NSR_SERVER:-}
WORKDIR=${WORKDIR:-/var/lib/tapesync/networker}
LOG=${LOG:-/var/log/tapesync/networker.log}
TARGET=${TARGET:---store /var/lib/tapesync/inventory.db}
RUN_OPTS=${RUN_OPTS:-}
KEEP_DAYS=${KEEP_DAYS:-14}

mkdir -p "$WORKDIR" "$(dirname "$LOG")" || exit 2
stamp=$(date +%Y%m%d-%H%M%S)
stats="$WORKDIR/stats-$stamp.json"
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') networker: $*" >>"$LOG"; }

set --
if [ -n "$NSR_SERVER" ]; then set -- -s "$NSR_SERVER"; fi

case "$REPORT" in
xc)
    DEFINITION=${DEFINITION:-$HERE/networker-xc.ttidef}
    report="$WORKDIR/mminfo-xc-$stamp.csv"
    log "exporting with mminfo -a -xc,"
    "$MMINFO" "$@" -a -xc, -r 'volume,pool,location,volretent,written,%used,barcode' \
        -q family=tape >"$report" 2>>"$LOG"
    ;;
m)
    DEFINITION=${DEFINITION:-$HERE/networker.ttidef}
    report="$WORKDIR/mminfo-m-$stamp.txt"
    log "exporting with mminfo -m"
    "$MMINFO" "$@" -m -q family=tape >"$report" 2>>"$LOG"
    ;;
*)
    log "REPORT must be xc or m, not '$REPORT'"
    exit 2
    ;;
esac
export_rc=$?
if [ "$export_rc" -ne 0 ]; then
    log "export failed (exit code $export_rc); nothing synced"
    exit 2
fi

log "syncing $report with $DEFINITION"
# shellcheck disable=SC2086 # TARGET and RUN_OPTS are lists of words on purpose
"$TAPESYNC" run --definition "$DEFINITION" --input "$report" $TARGET $RUN_OPTS \
    --stats-json "$stats" >>"$LOG" 2>&1
rc=$?
log "tapesync finished with exit code $rc"

find "$WORKDIR" \( -name 'mminfo-*' -o -name 'stats-*.json' \) -mtime +"$KEEP_DAYS" \
    -exec rm -f {} + 2>/dev/null
exit $rc
