#!/bin/sh
# Fills fuzz/corpus/<target>/ with the frames from spec/vectors/*.json (when
# present) and generated frames of every message variant. Safe to re-run.
set -eu
cd "$(dirname "$0")"
exec cargo run --quiet --manifest-path Cargo.toml --example seed_corpus
