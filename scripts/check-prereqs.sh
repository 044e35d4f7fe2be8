#!/usr/bin/env bash
# Fails early, naming what to install, when the machine lacks what the project needs.
set -euo pipefail
missing=()
python_ok=$(${PYTHON:-python3} -c 'import sys; print(int(sys.version_info >= (3, 11)))' 2>/dev/null || echo 0)
[ "$python_ok" = 1 ] || missing+=("Python 3.11 or newer (python3)")
command -v mvn >/dev/null 2>&1 || missing+=("Maven (Debian: apt-get install maven)")
jdk=""
for candidate in "${ES_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/*; do
  [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
  major=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p' | head -1)
  if [ -n "$major" ] && [ "$major" -ge 21 ]; then jdk=$candidate; break; fi
done
[ -n "$jdk" ] || missing+=("a JDK 21 or newer (Debian: apt-get install openjdk-21-jdk-headless, or set ES_JAVA_HOME)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "chancery: missing prerequisites:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "prerequisites: python ok, maven $(mvn -B -v 2>/dev/null | head -1 | awk '{print $3}'), JDK at $jdk"
