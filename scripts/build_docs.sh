#!/usr/bin/env bash
# Builds the documentation site (docs/ and the API reference from the
# docstrings) into site/, with warnings as errors: a broken link or a stale
# reference fails the build. Sets up .venv with the docs extra first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh docs
TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3} .venv/bin/mkdocs build --strict --quiet "$@"
echo "build_docs.sh: the site is in site/ (open site/index.html)."
