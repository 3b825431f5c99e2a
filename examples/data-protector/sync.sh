#!/bin/sh
# Nightly Data Protector -> tapesync sync, for cron on the Cell Manager (UNIX).
#
#   40 6 * * *  /opt/tapesync/examples/data-protector/sync.sh
#
# Lists the media pools (`omnimm -list_pools`, or the pools named in POOLS, separated by `;`),
# concatenates `omnimm -list_pool POOL` for each, syncs the result with data-protector.ttidef,
# logs to a file and exits with tapesync's exit code (0 clean, 1 some records had errors,
# 2 usage/IO/internal error). Every setting can be overridden from the environment.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TAPESYNC=${TAPESYNC:-tapesync}
DEFINITION=${DEFINITION:-$HERE/data-protector.ttidef}
OMNIMM=${OMNIMM:-/opt/omni/bin/omnimm}
# Pools to export, separated by `;` (pool names may contain blanks). Empty: every pool whose
# media type matches POOL_MEDIA_TYPE.
POOLS=${POOLS:-}
POOL_MEDIA_TYPE=${POOL_MEDIA_TYPE:-LTO*}
WORKDIR=${WORKDIR:-/var/lib/tapesync/data-protector}
LOG=${LOG:-/var/log/tapesync/data-protector.log}
TARGET=${TARGET:---store /var/lib/tapesync/inventory.db}
RUN_OPTS=${RUN_OPTS:-}
KEEP_DAYS=${KEEP_DAYS:-14}

mkdir -p "$WORKDIR" "$(dirname "$LOG")" || exit 2
stamp=$(date +%Y%m%d-%H%M%S)
report="$WORKDIR/omnimm-$stamp.txt"
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') data-protector: $*" >>"$LOG"; }

if [ -z "$POOLS" ]; then
    # `omnimm -list_pools` is fixed-width: status (8 characters), pool name (26), media type
    # (18), ... Skip the heading and the ruler, keep pools of the wanted media type.
    if ! listing=$("$OMNIMM" -list_pools 2>>"$LOG"); then
        log "omnimm -list_pools failed; nothing synced"
        exit 2
    fi
    POOLS=$(printf '%s\n' "$listing" | awk -v type="$POOL_MEDIA_TYPE" '
        BEGIN { gsub(/\*/, ".*", type); type = "^" type "$" }
        /^Status/ || /^==/ || length($0) < 9 { next }
        {
            name = substr($0, 9, 26); sub(/ +$/, "", name)
            media = substr($0, 35, 18); sub(/ +$/, "", media)
            if (media ~ type) printf "%s;", name
        }')
fi

: >"$report"
failed=0
old_ifs=$IFS
IFS=';'
for pool in $POOLS; do
    IFS=$old_ifs
    [ -n "$pool" ] || continue
    log "exporting pool '$pool'"
    if ! "$OMNIMM" -list_pool "$pool" >>"$report" 2>>"$LOG"; then
        log "omnimm -list_pool '$pool' failed"
        failed=1
    fi
    # A blank line between pools; the definition skips the repeated headings.
    echo >>"$report"
done
IFS=$old_ifs

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

find "$WORKDIR" \( -name 'omnimm-*.txt' -o -name 'stats-*.json' \) -mtime +"$KEEP_DAYS" \
    -exec rm -f {} + 2>/dev/null
exit $rc
