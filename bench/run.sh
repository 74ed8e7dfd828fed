#!/bin/bash
# make bench: runs every bench/*.sh (except this one) in name order, so a
# new benchmark only has to drop its own script here (the worker benchmark
# goes in bench/worker.sh, for instance).  Exit status: non-zero when any
# benchmark failed or missed its target.
cd "$(dirname "$0")"
rc=0
for b in *.sh; do
    [ "$b" = run.sh ] && continue
    echo "== bench/$b"
    bash "./$b" || { echo "== bench/$b: failed or below target"; rc=1; }
done
exit $rc
