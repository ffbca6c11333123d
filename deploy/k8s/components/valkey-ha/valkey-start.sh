#!/bin/sh
# Start one Valkey data pod of the Sentinel-managed group: as the primary, or as a replica of
# whichever pod is the primary now (find-primary.sh). Never as a second primary after a failover.
set -eu
me="${POD_NAME}.valkey"
primary=$(sh "$(dirname "$0")/find-primary.sh")

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
