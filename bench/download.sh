#!/bin/bash
# wrk: package downloads vs plain nginx static (bench/README.md)
set -e
cd "$(dirname "$0")/.."
exec perl -I t/lib bench/download.pl
