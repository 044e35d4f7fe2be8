#!/usr/bin/env bash
# Debian packages the embedded engine uses when present. As root, install them;
# otherwise say what falls back.
set -uo pipefail
if [ -f /usr/share/hunspell/en_US.dic ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -qq hunspell-en-us >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq hunspell-en-us; }) \
    && exit 0
fi
echo "note: Debian's hunspell-en-us is not installed; English stemming on the embedded engine falls back to the standard analyzer." >&2
