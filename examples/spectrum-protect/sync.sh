#!/bin/sh
# Nightly Spectrum Protect (TSM) -> tapesync sync, for cron on a host with the administrative
# client (dsmadmc).
#
#   30 6 * * *  /opt/tapesync/examples/spectrum-protect/sync.sh
#
# 1. `query libvolume` in list layout -> spectrum-protect-list.ttidef (volumes in the library,
#    slot, scratch state);
# 2. with DRM=yes (default) also `query drmedia` -> spectrum-protect-drm.ttidef (where the
#    offsite volumes are).
# Logs to a file; the exit code is the worst of the tapesync runs (0 clean, 1 some records had
# errors, 2 usage/IO/internal error). Every setting can be overridden from the environment.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TAPESYNC=${TAPESYNC:-tapesync}
DSMADMC=${DSMADMC:-/opt/tivoli/tsm/client/ba/bin/dsmadmc}
TSM_ID=${TSM_ID:-tapesync}
# A file holding the administrator's password (readable by this user only).
TSM_PASSWORD_FILE=${TSM_PASSWORD_FILE:-/etc/tapesync/tsm.password}
DRM=${DRM:-yes}
WORKDIR=${WORKDIR:-/var/lib/tapesync/spectrum-protect}
LOG=${LOG:-/var/log/tapesync/spectrum-protect.log}
TARGET=${TARGET:---store /var/lib/tapesync/inventory.db}
RUN_OPTS=${RUN_OPTS:-}
KEEP_DAYS=${KEEP_DAYS:-14}

mkdir -p "$WORKDIR" "$(dirname "$LOG")" || exit 2
stamp=$(date +%Y%m%d-%H%M%S)
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') spectrum-protect: $*" >>"$LOG"; }

if ! password=$(cat "$TSM_PASSWORD_FILE" 2>>"$LOG"); then
    log "cannot read $TSM_PASSWORD_FILE; nothing synced"
    exit 2
fi

worst=0
# sync NAME DEFINITION DSMADMC-OPTIONS... COMMAND: export one report and sync it.
sync_report() {
    name=$1 definition=$2
    shift 2
    report="$WORKDIR/$name-$stamp.txt"
    log "exporting: dsmadmc $*"
    if ! "$DSMADMC" -id="$TSM_ID" -password="$password" -dataonly=yes "$@" \
        >"$report" 2>>"$LOG"; then
        log "export $name failed; not synced"
        worst=2
        return
    fi
    # shellcheck disable=SC2086 # TARGET and RUN_OPTS are lists of words on purpose
    "$TAPESYNC" run --definition "$definition" --input "$report" $TARGET $RUN_OPTS \
        --stats-json "$WORKDIR/stats-$name-$stamp.json" >>"$LOG" 2>&1
    rc=$?
    log "tapesync ($name) finished with exit code $rc"
    if [ "$rc" -gt "$worst" ]; then worst=$rc; fi
}

sync_report libvolume "$HERE/spectrum-protect-list.ttidef" -displaymode=list "query libvolume"
if [ "$DRM" = yes ]; then
    sync_report drmedia "$HERE/spectrum-protect-drm.ttidef" -commadelimited \
        "query drmedia * wherestate=all"
fi

find "$WORKDIR" \( -name '*.txt' -o -name '*.json' \) -mtime +"$KEEP_DAYS" \
    -exec rm -f {} + 2>/dev/null
exit $worst
