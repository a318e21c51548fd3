#!/bin/sh
# Starts the Socket.IO 4 (Node) peer of the fan-out benchmark; bench/fanout.sh
# runs `npm ci` here first. It takes its commands on stdin (see server.mjs).
here=$(cd "$(dirname "$0")" && pwd)
exec node "$here/server.mjs"
