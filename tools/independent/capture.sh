#!/bin/bash
# Capture the independent scenario on lo: bash tools/independent/capture.sh OUTDIR
# Writes OUTDIR/independent.pcap and OUTDIR/independent.truth.jsonl. Needs root (tcpdump).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: capture.sh OUTDIR}"
mkdir -p "$out"
tmp="$(mktemp -d)"
python3 "$here/scenario.py" "$out/independent.truth.jsonl" --port-file "$tmp/port" &
scen=$!
while [ ! -s "$tmp/port" ]; do sleep 0.05; done
port="$(cat "$tmp/port")"
tcpdump -i lo -U --immediate-mode -s 0 -w "$out/independent.pcap" "tcp port $port" 2>"$tmp/tcpdump.log" &
dump=$!
wait "$scen"
sleep 2
kill -INT "$dump"
wait "$dump" || true
cat "$tmp/tcpdump.log" >&2
rm -rf "$tmp"
echo "port $port: $out/independent.pcap $out/independent.truth.jsonl"
