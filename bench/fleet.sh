#!/bin/bash
# fleet cost: whole device sessions vs the same pieces from plain static,
# and the floor without downloads (bench/README.md, "Fleet")
set -e
cd "$(dirname "$0")/.."
exec perl -I t/lib bench/fleet.pl
