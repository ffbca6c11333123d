#!/bin/sh
# Start one Sentinel monitoring the current primary: the one the other Sentinels name, else the
# data pod that says it is primary, else valkey-0 (first start). The Sentinel ID is derived
# from the pod name, so a restarted Sentinel is the same one to its peers (a new ID would leave
# a stale peer behind that counts against the failover majority).
set -eu
primary=""
for i in 0 1 2; do
  [ "valkey-sentinel-$i" = "$POD_NAME" ] && continue
  answer=$(timeout 3 valkey-cli -h "valkey-sentinel-$i.valkey-sentinel" -p 26379 --raw \
    sentinel get-master-addr-by-name stackmcp 2>/dev/null | head -n 1) || true
  if [ -n "$answer" ]; then primary="$answer"; break; fi
done
if [ -z "$primary" ]; then
  for i in 0 1 2; do
    host="valkey-$i.valkey"
    if timeout 3 valkey-cli -h "$host" -p 6379 info replication 2>/dev/null | grep -q '^role:master'; then
      primary="$host"
      break
    fi
  done
fi
[ -n "$primary" ] || primary="valkey-0.valkey"
# Sentinel refuses to start on a name it cannot resolve: wait for the primary's pod.
until timeout 3 valkey-cli -h "$primary" -p 6379 ping >/dev/null 2>&1; do
  echo "waiting for $primary"
  sleep 2
done

myid=$(printf '%s' "$POD_NAME" | sha1sum | cut -c1-40)
sed -e "s/@PRIMARY@/$primary/" -e "s/@ANNOUNCE@/${POD_NAME}.valkey-sentinel/" \
  -e "s/@MYID@/$myid/" /etc/valkey/sentinel.conf > /data/sentinel.conf
echo "monitoring $primary"
exec valkey-server /data/sentinel.conf --sentinel
