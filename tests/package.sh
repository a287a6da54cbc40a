#!/usr/bin/env bash
# Installs the Debian package DEB with dpkg -i and checks it as an operator would: the
# binary runs (--version, demo), the man pages and completions are where man and the
# shells look, the unit passes systemd-analyze verify (where systemd-analyze exists),
# and the shuin user and its state directory are made. Then removes the package (the
# data directory and user stay, as in production). Run as root or with sudo.
set -euo pipefail
deb=$1
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

$SUDO dpkg -i "$deb"
trap '$SUDO dpkg -r shuin >/dev/null' EXIT

/usr/bin/shuin --version
work=$(mktemp -d)
(cd "$work" && /usr/bin/shuin demo >demo.log 2>&1) || { tail -n 30 "$work/demo.log"; exit 1; }
grep -q '^done' "$work/demo.log"
rm -rf "$work"

for page in shuin shuin-serve shuin-init shuin-ledger-export; do
  test -s "/usr/share/man/man1/$page.1.gz" || { echo "missing man page $page"; exit 1; }
done
if command -v man >/dev/null 2>&1; then man -w shuin >/dev/null; fi
bash -c 'source /usr/share/bash-completion/completions/shuin && complete -p shuin' >/dev/null
test -s /usr/share/zsh/vendor-completions/_shuin
test -s /usr/share/fish/vendor_completions.d/shuin.fish

getent passwd shuin >/dev/null
test "$(stat -c '%U %a' /var/lib/shuin)" = "shuin 700"
grep -q '^SHUIN_DATA=' /etc/default/shuin
for setting in NoNewPrivileges=yes ProtectSystem=strict User=shuin LimitNOFILE=; do
  grep -q "^$setting" /lib/systemd/system/shuin.service || { echo "unit lacks $setting"; exit 1; }
done
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify /lib/systemd/system/shuin.service
else
  echo "note: systemd-analyze not found; the unit's syntax was not verified"
fi
echo "package OK: $(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')"
