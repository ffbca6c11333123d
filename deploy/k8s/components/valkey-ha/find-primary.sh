#!/bin/sh
# Print the name of the current Valkey primary, for valkey-start.sh and sentinel-start.sh:
#   1. what the Sentinels say (they know it, also after failovers);
#   2. when none answers (first start, or all of them restarting): the data pod that says it
#      is primary;
#   3. when there is none yet: valkey-0.
# The calling pod ($POD_NAME) is not asked about itself.
set -eu
for i in 0 1 2; do
  [ "valkey-sentinel-$i" = "$POD_NAME" ] && continue
  answer=$(timeout 3 valkey-cli -h "valkey-sentinel-$i.valkey-sentinel" -p 26379 --raw \
    sentinel get-master-addr-by-name stackmcp 2>/dev/null | head -n 1) || true
  if [ -n "$answer" ]; then
    echo "$answer"
    exit 0
  fi
done
for i in 0 1 2; do
  [ "valkey-$i" = "$POD_NAME" ] && continue
  if timeout 3 valkey-cli -h "valkey-$i.valkey" -p 6379 info replication 2>/dev/null \
    | grep -q '^role:master'; then
    echo "valkey-$i.valkey"
    exit 0
  fi
done
echo "valkey-0.valkey"
