#!/usr/bin/env bash
# The npm dependencies, installed when node_modules does not hold what package-lock.json pins.
# Needs Node.js alone (no root, no system packages): `make build`, `make lint` and
# `make test-unit` run this and nothing of scripts/setup.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\033[1m[deps]\033[0m %s\n' "$*" >&2; }
die() { printf 'deps: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "Node.js 20 or newer is required: 'node' is not in PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js 20 or newer is required, found $(node --version)"

# Compared by content, not by date: a fresh checkout or a git worktree has a lock file newer than
# any node_modules, though nothing in it changed. Stale: package.json asks for another range
# than the lock file was made from, or a locked package is missing or of another version (an
# optional one may be missing: npm leaves out other platforms' binaries).
stale="$(
  cd "$root" && node -e '
    const fs = require("fs");
    const read = (f) => { try { return JSON.parse(fs.readFileSync(f, "utf8")); } catch { return undefined; } };
    const pkg = read("package.json"), lock = read("package-lock.json");
    if (!lock) { console.log("no package-lock.json"); process.exit(); }
    for (const field of ["dependencies", "devDependencies"]) {
      if (JSON.stringify(pkg[field] ?? {}) !== JSON.stringify(lock.packages[""]?.[field] ?? {})) { console.log(`package.json ${field} differ from the lock file`); process.exit(); }
    }
    for (const [dir, locked] of Object.entries(lock.packages)) {
      if (dir === "" || locked.link) continue;
      const version = read(`${dir}/package.json`)?.version;
      if (version !== locked.version && !(locked.optional && version === undefined)) { console.log(`${dir}: ${version ?? "missing"}, locked ${locked.version}`); process.exit(); }
    }
  '
)"
[[ -z "$stale" ]] && exit 0
say "installing npm dependencies ($stale)"
# npm ci rejects the lock file npm 11 writes here (optional platform packages are left out of
# it), so install exactly the locked versions with npm install, changing nothing.
(cd "$root" && npm install --no-save --no-audit --no-fund --loglevel=error)
