#!/usr/bin/env bash
# Regenerates the captures in this directory with `ctiscope synth` (deterministic per seed;
# a --scenario line writes a scripted session story, the same bytes every time).
# tests/captures.rs checks that the committed files are exactly what these lines write, and
# compares `ctiscope check` on each with tests/snapshots/captures/.
#
#   usage: captures/make.sh [path/to/ctiscope]
set -euo pipefail
cd "$(dirname "$0")"
C=${1:-../target/release/ctiscope}
# name | synth arguments
while IFS='|' read -r name args; do
  [ -z "$name" ] && continue
  # shellcheck disable=SC2086
  "$C" synth -w "$name" $args
done <<'LIST'
contact-center.pcapng|--seed 1 --desktops 2 --bridges 1 --monitors 1 --calls-per-agent 2 --format pcapng
desktop-v24.pcap|--seed 2 --desktops 1 --bridges 0 --monitors 0 --calls-per-agent 3 --protocol-version 24
desktop-v15.pcap|--seed 3 --desktops 1 --bridges 0 --monitors 0 --calls-per-agent 3 --protocol-version 15
bridge.pcap|--seed 4 --desktops 2 --bridges 1 --monitors 0 --calls-per-agent 2 --link sll2
ipv6-vlan.pcapng|--seed 5 --desktops 1 --bridges 1 --monitors 0 --calls-per-agent 2 --ipv6 --link vlan --format pcapng
faults-lost.pcap|--seed 6 --desktops 2 --bridges 1 --monitors 0 --calls-per-agent 2 --faults lost=0.02 --truth faults-lost.truth.jsonl
faults-reorder-retransmit.pcap|--seed 7 --desktops 2 --bridges 1 --monitors 0 --calls-per-agent 2 --faults reorder=0.03,retransmit=0.03,diverge=0.02 --truth faults-reorder-retransmit.truth.jsonl
faults-protocol.pcap|--seed 8 --desktops 2 --bridges 1 --monitors 0 --calls-per-agent 2 --faults unanswered=0.05,after-end=0.3,oversize=0.1,bad-count=0.1 --truth faults-protocol.truth.jsonl
midstream.pcap|--seed 9 --desktops 2 --bridges 1 --monitors 0 --calls-per-agent 2 --faults midstream --truth midstream.truth.jsonl
truncated.pcap|--seed 10 --desktops 1 --bridges 1 --monitors 0 --calls-per-agent 1 --faults truncate --truth truncated.truth.jsonl
failover.pcap|--scenario failover --truth failover.truth.jsonl
LIST
