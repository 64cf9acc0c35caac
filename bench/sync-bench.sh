#!/usr/bin/env bash
# Times team sync end to end with the release binaries: a generated account
# of N records shared by one teammate, fetched by another, then one change
# each way (the change received is a new record, `log add`), a no-op
# sync, `status`, a received title edit, a received tag and notes edit,
# twenty edits received at once, received edits of activities, a
# received merge (which loads) and the first read after a sync.
#
#   cargo build --release -p rapport-cli -p rapport-relay -p rapport-bench
#   bash bench/sync-bench.sh 10000 100000
#
# Prints one line per step: wall time and peak RSS (GNU time).
set -euo pipefail
T="$(cd "$(dirname "$0")/.." && pwd)/target/release"
for bin in rapport rapport-relay rapport-bench; do
    [[ -x "$T/$bin" ]] || { echo "build first: cargo build --release -p rapport-cli -p rapport-relay -p rapport-bench" >&2; exit 1; }
done
PORT=${PORT:-8961}
WORK=$(mktemp -d)
trap 'kill $RELAY 2>/dev/null || true; rm -rf "$WORK"' EXIT
t() { /usr/bin/time -f "%e s  %M KiB" "$@" 2>&1 >/dev/null | tail -1; }  # the last stderr line is time's
for n in "${@:-10000}"; do
    D="$WORK/$n"; mkdir -p "$D"
    "$T/rapport-bench" --sizes "$n" --generate-only "$D/sam" >/dev/null
    "$T/rapport-relay" team add acme --data-dir "$D/relay" >/dev/null
    SAM=$("$T/rapport-relay" member add acme sam --data-dir "$D/relay" 2>/dev/null)
    JO=$("$T/rapport-relay" member add acme jo --data-dir "$D/relay" 2>/dev/null)
    "$T/rapport-relay" serve --data-dir "$D/relay" --listen "127.0.0.1:$PORT" >"$D/relay.log" 2>&1 &
    RELAY=$!
    sleep 1
    sam=("$T/rapport" --home "$D/sam")
    jo=("$T/rapport" --home "$D/jo")
    "${sam[@]}" remote add acme "http://127.0.0.1:$PORT" --team acme --token "$SAM" -q
    "${jo[@]}" init --name Jo --handle jo -q
    "${jo[@]}" remote add acme "http://127.0.0.1:$PORT" --team acme --token "$JO" -q
    echo "== $n records"
    echo "share (first upload)      $(t "${sam[@]}" share Bigco)"
    echo "first fetch (teammate)    $(t "${jo[@]}" sync)"
    echo "read after fetch          $(t "${jo[@]}" person list --account Bigco)"
    "${sam[@]}" log add "Person 000042" --kind meeting --notes "bench" -q
    echo "status, offline           $(t "${sam[@]}" status)"
    echo "send one change           $(t "${sam[@]}" sync)"
    echo "receive one change        $(t "${jo[@]}" sync)"
    echo "no-op sync                $(t "${jo[@]}" sync)"
    # A plain edit of a record that was there: through the field index.
    "${sam[@]}" person edit "Person 000042" --title "Bench title" -q
    "${sam[@]}" sync -q
    echo "receive a title edit      $(t "${jo[@]}" sync)"
    # An edit of a list and a text (a tag, the notes): through the field
    # index too (session 10; loaded before).
    "${sam[@]}" person edit "Person 000042" --tag "bench" --notes "bench notes" -q
    "${sam[@]}" sync -q
    echo "receive a tag+notes edit  $(t "${jo[@]}" sync)"
    # A day's work: twenty edits of twenty people, received in one sync.
    for i in $(seq 100 119); do
        "${sam[@]}" person edit "Person 000$i" --title "Bench $i" --tag "day" -q
    done
    "${sam[@]}" sync -q
    echo "receive 20 edits          $(t "${jo[@]}" sync)"
    # Edits of activities (session 11; loaded before): one of the log jo's
    # index keeps in its cold file (his own first `log edit` loaded and
    # indexed the log), and the one sam logged above, received unloaded
    # then (an entry of the index).
    ids=$("${jo[@]}" log list --account Bigco --all --json --limit 1000 |
        python3 -c 'import json,sys; l=json.load(sys.stdin); print(l[0]["activity"]["id"], l[-1]["activity"]["id"])')
    read -r logged old <<<"$ids"
    echo "log edit, first (loads)   $(t "${jo[@]}" log edit "$old" --kind call)"
    "${jo[@]}" sync -q
    "${sam[@]}" sync -q
    "${sam[@]}" log edit "$old" --notes "bench: notes edited" -q
    "${sam[@]}" sync -q
    echo "receive a log edit        $(t "${jo[@]}" sync)"
    "${sam[@]}" log edit "$logged" --kind email -q
    "${sam[@]}" sync -q
    echo "receive a new one's edit  $(t "${jo[@]}" sync)"
    # A merge edits several records (the duplicate's activity moves):
    # received loaded, the path every received change took before session 9.
    "${sam[@]}" person merge "Person 000042" "Person 000043" -q 2>/dev/null
    "${sam[@]}" sync -q
    echo "receive a merge (loads)   $(t "${jo[@]}" sync)"
    echo "read after sync           $(t "${jo[@]}" person list --account Bigco)"
    kill $RELAY; wait $RELAY 2>/dev/null || true
done
