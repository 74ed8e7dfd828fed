#!/bin/bash
# long poll: 10,000 waiting devices on one node, memory per wait and the
# time until every one has its offer (bench/README.md)
set -e
cd "$(dirname "$0")/.."
exec perl -I t/lib bench/wait.pl
