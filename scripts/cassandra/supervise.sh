#!/bin/sh
# Usage: supervise.sh RUN_DIR WATCH_STDIN JAVA [JAVA_ARGS...]
#
# Runs the Cassandra JVM as its child and owns its lifetime:
# - SIGTERM/SIGINT/SIGHUP to this shell are passed to the JVM as SIGTERM (graceful stop),
#   SIGQUIT as SIGQUIT (thread dump);
# - with WATCH_STDIN=1 the JVM also gets SIGTERM when this shell's stdin reaches EOF.
#   The Node parent holds the other end of that pipe, so the JVM is stopped however the
#   parent dies, even by SIGKILL (the JVM cannot notice its parent's death, and Node has
#   no PR_SET_PDEATHSIG);
# - once the JVM is gone, RUN_DIR (its throw-away data folder) is removed.
# Exits with the JVM's exit status.
run_dir=$1
watch_stdin=$2
shift 2

exec 3<&0
"$@" </dev/null 3<&- &
pid=$!

watcher=
if [ "$watch_stdin" = 1 ]; then
  # Background lists get /dev/null as stdin unless redirected, hence fd 3.
  ( while read -r _ <&3; do :; done; kill -TERM "$pid" 2>/dev/null ) &
  watcher=$!
fi
exec 3<&-

trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
# SIGQUIT (e.g. from jcmd/jstack given this shell's pid) would kill the shell and orphan
# the JVM; hand it to the JVM instead, where it prints a thread dump.
trap 'kill -QUIT "$pid" 2>/dev/null' QUIT

# A trapped signal interrupts `wait`; keep waiting until the JVM has really exited.
wait "$pid"
rc=$?
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid"
  rc=$?
done

[ -n "$watcher" ] && kill "$watcher" 2>/dev/null
rm -rf "$run_dir"
exit "$rc"
