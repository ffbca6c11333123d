#!/bin/sh
# Start one Sentinel monitoring the current primary (find-primary.sh). The Sentinel ID is
# derived from the pod name, so a restarted Sentinel is the same one to its peers (a new ID
# would leave a stale peer behind that counts against the failover majority).
set -eu
here=$(dirname "$0")
primary=$(sh "$here/find-primary.sh")
# Sentinel refuses to start on a name it cannot resolve: wait for the primary's pod.
until timeout 3 valkey-cli -h "$primary" -p 6379 ping >/dev/null 2>&1; do
  echo "waiting for $primary"
  sleep 2
done

myid=$(printf '%s' "$POD_NAME" | sha1sum | cut -c1-40)
sed -e "s/@PRIMARY@/$primary/" -e "s/@ANNOUNCE@/${POD_NAME}.valkey-sentinel/" \
  -e "s/@MYID@/$myid/" "$here/sentinel.conf" > /data/sentinel.conf
echo "monitoring $primary"
exec valkey-server /data/sentinel.conf --sentinel
