#!/bin/sh
# Start one Valkey data pod of the Sentinel-managed group: as the primary, or as a replica of
# whichever pod is the primary now. Never as a second primary after a failover.
#   1. the Sentinels know the current primary (also after failovers);
#   2. when none answers (first start, or all of them restarting), ask the other data pods;
#   3. when nobody is primary yet, valkey-0 is.
set -eu
me="${POD_NAME}.valkey"
primary=""
for i in 0 1 2; do
  answer=$(timeout 3 valkey-cli -h "valkey-sentinel-$i.valkey-sentinel" -p 26379 --raw \
    sentinel get-master-addr-by-name stackmcp 2>/dev/null | head -n 1) || true
  if [ -n "$answer" ]; then primary="$answer"; break; fi
done
if [ -z "$primary" ]; then
  for i in 0 1 2; do
    host="valkey-$i.valkey"
    [ "$host" = "$me" ] && continue
    if timeout 3 valkey-cli -h "$host" -p 6379 info replication 2>/dev/null | grep -q '^role:master'; then
      primary="$host"
      break
    fi
  done
fi
[ -n "$primary" ] || primary="valkey-0.valkey"

# A writable copy: Sentinel rewrites the configuration of the servers it reconfigures.
conf=/run/valkey/valkey.conf
cp /etc/valkey/valkey.conf "$conf"
# Sentinels and replicas find this pod by its stable DNS name, not its (changing) IP.
echo "replica-announce-ip $me" >> "$conf"
if [ "$primary" != "$me" ]; then
  echo "replicaof $primary 6379" >> "$conf"
fi
echo "starting as $([ "$primary" = "$me" ] && echo primary || echo "replica of $primary")"
exec valkey-server "$conf"
