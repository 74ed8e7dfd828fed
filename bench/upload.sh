#!/bin/bash
# uploads: POST packages vs plain nginx writing the same body; download
# p99 during a 1 GB upload (bench/README.md)
set -e
cd "$(dirname "$0")/.."
exec perl -I t/lib bench/upload.pl
