#!/usr/bin/env bash
# Installs the Debian package DEB with dpkg -i and checks it as an operator would:
# - the binary runs (--version, demo), the man pages and completions are where man and
#   the shells look, and the unit passes systemd-analyze verify (where it exists);
# - the shuin user and its state directory are made, and an upgrade (dpkg -i again)
#   leaves them as they were;
# - as the shuin user, with the environment of /etc/default/shuin, an instance is made
#   in the default place and served (skipped when one is there already: this script
#   never touches an existing instance);
# - removing and purging the package keep /var/lib/shuin, and with it the shuin user.
# Run as root or with sudo.
set -euo pipefail
deb=$1
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
as_shuin() { $SUDO runuser -u shuin -- "$@"; }

$SUDO dpkg -i "$deb"
/usr/bin/shuin --version
work=$(mktemp -d)
chmod 755 "$work"
(cd "$work" && /usr/bin/shuin demo >demo.log 2>&1) || { tail -n 30 "$work/demo.log"; exit 1; }
grep -q '^done' "$work/demo.log"

for page in shuin shuin-serve shuin-init shuin-ledger-export; do
  test -s "/usr/share/man/man1/$page.1.gz" || { echo "missing man page $page"; exit 1; }
done
if command -v man >/dev/null 2>&1; then man -w shuin >/dev/null; fi
bash -c 'source /usr/share/bash-completion/completions/shuin && complete -p shuin' >/dev/null
test -s /usr/share/zsh/vendor-completions/_shuin
test -s /usr/share/fish/vendor_completions.d/shuin.fish
test -s /usr/share/doc/shuin/copyright

getent passwd shuin >/dev/null
test "$(stat -c '%U %a' /var/lib/shuin)" = "shuin 700"
for setting in NoNewPrivileges=yes ProtectSystem=strict User=shuin LimitNOFILE= Environment=MALLOC_ARENA_MAX=2 ExecStart=/usr/bin/shuin; do
  grep -q "^$setting" /lib/systemd/system/shuin.service || { echo "unit lacks $setting"; exit 1; }
done
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify --man=no /lib/systemd/system/shuin.service
else
  echo "note: systemd-analyze not found; the unit's syntax was not verified"
fi

# An upgrade keeps the user, the directory and an operator's choice of its mode.
$SUDO chmod 0750 /var/lib/shuin
$SUDO dpkg -i "$deb"
test "$(stat -c '%U %a' /var/lib/shuin)" = "shuin 750"
$SUDO chmod 0700 /var/lib/shuin

# The service's environment, as the unit reads it, and the shuin user.
set -a
# shellcheck disable=SC1091
. /etc/default/shuin
set +a
if [ -e "$SHUIN_DATA" ]; then
  echo "note: $SHUIN_DATA exists; not making a test instance there"
else
  (cd "$work" && /usr/bin/shuin testkit jpki-ca --out jlis >/dev/null)
  (cd "$work" && /usr/bin/shuin operator key --out admin.key >/dev/null 2>&1)
  (cd "$work" && /usr/bin/shuin operator csr --operator-key file:admin.key --name admin --out admin.csr >/dev/null 2>&1)
  chmod -R a+rX "$work"
  as_shuin env SHUIN_DATA="$SHUIN_DATA" /usr/bin/shuin init --key-backend software \
    --jpki-trust-anchor "$work/jlis/ca.pem" --jpki-crl "$work/jlis/crl.der" \
    --public-url http://127.0.0.1:18080 --policy-oid 1.3.6.1.4.1.32473.1.1 \
    --responsible-person 'package test' --first-admin-csr "$work/admin.csr" >/dev/null
  $SUDO runuser -u shuin -- env SHUIN_DATA="$SHUIN_DATA" SHUIN_LOG="$SHUIN_LOG" \
    /usr/bin/shuin serve --listen 127.0.0.1:18080 >"$work/serve.log" 2>&1 &
  server=$!
  curl -sf --retry-connrefused --retry 30 --retry-delay 1 -o /dev/null http://127.0.0.1:18080/healthz
  status=$(as_shuin env SHUIN_DATA="$SHUIN_DATA" /usr/bin/shuin status)
  grep -q '^  ok    server' <<<"$status" || { echo "$status"; exit 1; }
  # SIGTERM to the server itself, as systemd stops it: it must end cleanly.
  $SUDO pkill -TERM -u shuin -x shuin
  wait "$server" || { echo "serve ended with $?"; tail -n 20 "$work/serve.log"; exit 1; }
  $SUDO rm -rf "$SHUIN_DATA"
fi

# Removal and purge keep the books' directory, and so the user.
$SUDO dpkg -r shuin
test ! -e /usr/bin/shuin
test -d /var/lib/shuin
$SUDO dpkg --purge shuin
test -d /var/lib/shuin
getent passwd shuin >/dev/null
test ! -e /etc/default/shuin
rm -rf "$work"
echo "package OK: $(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')"
