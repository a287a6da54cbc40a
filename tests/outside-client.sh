#!/usr/bin/env bash
# Outside-client end-to-end test (DESIGN.md sections 3.2-3.4, 3.7).
#
#   bash tests/outside-client.sh /path/to/shuin
#
# Plays a client that knows nothing of shuin's code: it builds its own J-LIS-like signing
# CA and card certificates with openssl, signs applications with `openssl cms`, talks HTTP
# with curl, reads JSON with jq, and uses python3 only for small binary edits, a free port
# and the SQLite ledger tampering. shuin's own testkit is never used.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 PATH/TO/shuin" >&2
  exit 2
fi
BIN=$1
case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac
[ -x "$BIN" ] || { echo "outside-client: $BIN is not an executable" >&2; exit 2; }
for tool in openssl curl jq python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "outside-client: $tool is required" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/shuin-outside.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${SHUIN_KEEP_WORKDIR:-0}" = 1 ]; then
    echo "outside-client: work dir kept at $W" >&2
  else
    rm -rf "$W"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0
FAIL=0
pass() { PASS=$((PASS + 1)); printf 'PASS %s\n' "$*"; }
fail() { FAIL=$((FAIL + 1)); printf 'FAIL %s\n' "$*"; }
skip() { printf 'SKIP %s\n' "$*"; }
die() { echo "outside-client: $*" >&2; exit 1; }

# Run openssl quietly; on failure show its output and stop (a setup failure, not a case).
ossl() {
  local out
  if ! out=$(openssl "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    die "openssl $1 failed"
  fi
}

# ---------------------------------------------------------------------------------------
# 1. A J-LIS-like signing CA that shuin has never seen, and a forger with the same name.
# ---------------------------------------------------------------------------------------
P="$W/pki"
mkdir -p "$P"
JLIS_SUBJ='/C=JP/O=JPKI/OU=JPKI for digital signature/OU=Japan Agency for Local Authority Information Systems'

make_ca() { # DIR
  local d=$1
  mkdir -p "$d/newcerts"
  : >"$d/index.txt"
  printf 'unique_subject = no\n' >"$d/index.txt.attr"
  openssl rand -hex 16 >"$d/serial"
  echo 01 >"$d/crlnumber"
  cat >"$d/ca.cnf" <<EOF
[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes
prompt             = no
[ req_dn ]
C = JP
[ v3_jlis_ca ]
basicConstraints       = critical,CA:true
keyUsage               = critical,keyCertSign,cRLSign
subjectKeyIdentifier   = hash
[ ca ]
default_ca = jlis
[ jlis ]
dir              = $d
database         = $d/index.txt
new_certs_dir    = $d/newcerts
serial           = $d/serial
crlnumber        = $d/crlnumber
certificate      = $d/ca.pem
private_key      = $d/ca.key
default_md       = sha256
default_days     = 1000
default_crl_days = 3
policy           = policy_any
preserve         = yes
email_in_dn      = no
unique_subject   = no
copy_extensions  = none
string_mask      = utf8only
utf8             = yes
[ policy_any ]
countryName      = supplied
localityName     = optional
commonName       = supplied
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
  ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/ca.key"
  ossl req -config "$d/ca.cnf" -new -x509 -utf8 -sha256 -days 3650 -key "$d/ca.key" \
    -subj "$JLIS_SUBJ" -extensions v3_jlis_ca -out "$d/ca.pem"
}

make_ca "$P/jlis"
make_ca "$P/forger"
cp "$P/jlis/ca.pem" "$W/ca.pem"

# The subject must be byte-identical (same DN, same string types), keys different.
jlis_subj_der() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253,show_type; }
if [ "$(jlis_subj_der "$P/jlis/ca.pem")" = "$(jlis_subj_der "$P/forger/ca.pem")" ] &&
  [ "$(openssl x509 -in "$P/jlis/ca.pem" -noout -pubkey)" != "$(openssl x509 -in "$P/forger/ca.pem" -noout -pubkey)" ]; then
  pass "setup: forged CA has the same subject and a different key"
else
  fail "setup: forged CA subject/key"
fi
if openssl asn1parse -in "$P/jlis/ca.pem" | grep -q 'UTF8STRING *:JPKI$' &&
  openssl asn1parse -in "$P/jlis/ca.pem" | grep -q 'PRINTABLESTRING *:JP$'; then
  pass "setup: CA subject O/OU are UTF8String, C PrintableString"
else
  fail "setup: CA subject string types"
fi

# ---------------------------------------------------------------------------------------
# 2. Card certificates.
# ---------------------------------------------------------------------------------------
zeros() { # STRING -> one 0 per character
  python3 -c 'import sys; print("0" * len(sys.argv[1]))' "$1"
}

# make_card NAME CADIR PROFILE [key=value...]
#   PROFILE: sign | test | auth
#   name= namemap= gender= birth= address= addrmap= start= end= (openssl ca date format)
make_card() {
  local card=$1 cadir=$2 profile=$3
  shift 3
  local name='山田　太郎' namemap='' gender=1 birth=419900102 address='東京都千代田区霞が関1-1-1' addrmap=''
  local start='' end='' kv
  for kv in "$@"; do
    case "$kv" in
      name=*) name=${kv#name=} ;;
      namemap=*) namemap=${kv#namemap=} ;;
      gender=*) gender=${kv#gender=} ;;
      birth=*) birth=${kv#birth=} ;;
      address=*) address=${kv#address=} ;;
      addrmap=*) addrmap=${kv#addrmap=} ;;
      start=*) start=${kv#start=} ;;
      end=*) end=${kv#end=} ;;
      *) die "make_card: bad option $kv" ;;
    esac
  done
  [ -n "$namemap" ] || namemap=$(zeros "$name")
  [ -n "$addrmap" ] || addrmap=$(zeros "$address")
  local d="$P/cards/$card"
  mkdir -p "$d"
  local ext="$d/ext.cnf"
  case "$profile" in
    sign | test)
      local pol=1.2.392.200149.8.5.1.1.20
      [ "$profile" = test ] && pol=1.2.392.200149.8.5.1.0.20
      cat >"$ext" <<EOF
[ card ]
keyUsage               = critical,digitalSignature,nonRepudiation
certificatePolicies    = critical,$pol
subjectAltName         = @san
authorityKeyIdentifier = keyid
subjectKeyIdentifier   = hash
[ san ]
otherName.0 = 1.2.392.200149.8.5.5.1;FORMAT:UTF8,UTF8:$name
otherName.1 = 1.2.392.200149.8.5.5.2;FORMAT:UTF8,UTF8:$namemap
otherName.2 = 1.2.392.200149.8.5.5.3;FORMAT:UTF8,UTF8:$gender
otherName.3 = 1.2.392.200149.8.5.5.4;FORMAT:UTF8,UTF8:$birth
otherName.4 = 1.2.392.200149.8.5.5.5;FORMAT:UTF8,UTF8:$address
otherName.5 = 1.2.392.200149.8.5.5.6;FORMAT:UTF8,UTF8:$addrmap
EOF
      ;;
    auth)
      cat >"$ext" <<EOF
[ card ]
keyUsage               = critical,digitalSignature
certificatePolicies    = critical,1.2.392.200149.8.5.1.1.10
authorityKeyIdentifier = keyid
subjectKeyIdentifier   = hash
EOF
      ;;
    *) die "make_card: bad profile $profile" ;;
  esac
  ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/card.key"
  local cn
  cn=$(openssl rand -hex 12 | tr 'a-f' 'A-F')
  ossl req -new -utf8 -sha256 -key "$d/card.key" -config "$cadir/ca.cnf" \
    -subj "/C=JP/L=東京都/L=千代田区/CN=$cn" -out "$d/card.csr"
  local dates=()
  [ -n "$start" ] && dates+=(-startdate "$start")
  [ -n "$end" ] && dates+=(-enddate "$end")
  ossl ca -batch -config "$cadir/ca.cnf" -utf8 -preserveDN -notext -md sha256 \
    -extfile "$ext" -extensions card ${dates[@]+"${dates[@]}"} \
    -in "$d/card.csr" -out "$d/card.pem"
}

utc() { # OFFSET_DAYS -> YYYYMMDDHHMMSSZ (GeneralizedTime form accepted by openssl ca)
  python3 -c 'import sys,datetime; t=datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(days=int(sys.argv[1])); print(t.strftime("%Y%m%d%H%M%SZ"))' "$1"
}

J="$P/jlis"
make_card valid "$J" sign
make_card revoked "$J" sign
make_card expired "$J" sign start="$(utc -400)" end="$(utc -30)"
make_card notyet "$J" sign start="$(utc 30)" end="$(utc 400)"
make_card userauth "$J" auth
make_card testcard "$J" test
make_card badbasic "$J" sign gender=9
make_card subst "$J" sign name='高橋　一郎' namemap=10000
make_card eraunknown "$J" sign birth=019900102
make_card forged "$P/forger" sign

ossl ca -batch -config "$J/ca.cnf" -revoke "$P/cards/revoked/card.pem" -crl_reason keyCompromise
ossl ca -batch -config "$J/ca.cnf" -gencrl -crldays 3 -crlexts crl_ext -out "$J/crl.pem"
ossl crl -in "$J/crl.pem" -outform DER -out "$W/crl.der"

card() { printf '%s/cards/%s/card.%s' "$P" "$1" "$2"; }

# The card subject keeps its order and the basic items are [0] EXPLICIT UTF8String.
c_subj=$(openssl x509 -in "$(card valid pem)" -noout -subject -nameopt RFC2253,utf8,-esc_msb)
if [ "$(printf '%s' "$c_subj" | sed -E 's/CN=[0-9A-F]+,/CN=X,/')" = 'subject=CN=X,L=千代田区,L=東京都,C=JP' ]; then
  pass "setup: card subject C=JP, L=東京都, L=千代田区, CN=<hex>"
else
  fail "setup: card subject is '$c_subj'"
fi
if python3 - "$(card valid pem)" <<'PY'
import base64, sys
pem = open(sys.argv[1]).read()
der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
def oid_der(s):
    p = [int(x) for x in s.split(".")]
    out = bytes([40 * p[0] + p[1]])
    for v in p[2:]:
        b = [v & 0x7F]
        v >>= 7
        while v:
            b.append(0x80 | (v & 0x7F)); v >>= 7
        out += bytes(reversed(b))
    return bytes([6, len(out)]) + out
want = {"1": "山田　太郎", "2": "00000", "3": "1", "4": "419900102"}
for k, v in want.items():
    val = v.encode()
    # OID, then [0] EXPLICIT { UTF8String }
    pat = oid_der("1.2.392.200149.8.5.5." + k) + bytes([0xA0, len(val) + 2, 0x0C, len(val)]) + val
    if pat not in der:
        sys.exit("otherName %s not [0] EXPLICIT UTF8String %r" % (k, v))
PY
then
  pass "setup: card SAN otherName values are [0] EXPLICIT UTF8String"
else
  fail "setup: card SAN encoding"
fi
if openssl crl -in "$J/crl.pem" -noout -text | grep -q "$(openssl x509 -in "$(card revoked pem)" -noout -serial | cut -d= -f2)"; then
  pass "setup: revoked card is on the CRL"
else
  fail "setup: revoked card is not on the CRL"
fi

# ---------------------------------------------------------------------------------------
# 3. init and serve.
# ---------------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
URL="http://127.0.0.1:$PORT"
INST="$W/inst"

# The first ca_admin's key and CSR, made by openssl as any outside tool would.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/admin.key" \
  -subj "/CN=outside admin" -out "$W/admin.csr" 2>/dev/null || die "openssl req failed"
if ! "$BIN" init --data "$INST" --key-backend software --jpki-trust-anchor "$W/ca.pem" \
  --jpki-crl "$W/crl.der" --public-url "$URL" --policy-oid 1.3.6.1.4.1.32473.1.1 \
  --first-admin-csr "$W/admin.csr" >"$W/init.out" 2>&1; then
  cat "$W/init.out" >&2
  die "shuin init failed"
fi
# Every application here comes from one address; the per-client limit (20 at once, one
# every 2 s by default) is raised so that the checks do not wait for it.
printf '\n[server.limits]\napplicant_burst = 1000.0\napplicant_per_second = 100.0\n' >>"$INST/shuin.toml"

"$BIN" serve --data "$INST" --listen "127.0.0.1:$PORT" >"$W/serve.log" 2>&1 &
SERVER_PID=$!
up=0
for _ in $(seq 1 150); do
  if curl -fsS -o /dev/null "$URL/healthz" 2>/dev/null; then up=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" != 1 ]; then
  tail -n 30 "$W/serve.log" >&2 || true
  die "server did not answer /healthz"
fi
pass "server up on $URL"
# The admin whose key openssl made is who the server says (a signed request).
if "$BIN" operator whoami --data "$INST" --operator-key "file:$W/admin.key" 2>/dev/null \
  | grep -q '"operator":"outside admin"'; then
  pass "operator key made by openssl signs requests (operator whoami)"
else
  fail "operator whoami with the openssl-made admin key"
fi

# ---------------------------------------------------------------------------------------
# 4. The client.
# ---------------------------------------------------------------------------------------
STATUS=""
BODY="$W/last.body"
HDRS="$W/last.hdrs"
LAST_CMS=""
LAST_KEY=""
N=0

# post FILE [CONTENT_TYPE] -> STATUS, $BODY, $HDRS
post() {
  local file=$1 ctype=${2:-application/pkcs7-mime}
  STATUS=$(curl -sS -o "$BODY" -D "$HDRS" -w '%{http_code}' -X POST \
    -H "Content-Type: $ctype" --data-binary "@$file" "$URL/api/v1/applications") || STATUS=000
}

# challenge -> NONCE TERMS_SHA (checks the 201 shape and the terms hash once per call)
NONCE=""
TERMS_SHA=""
challenge() {
  local c="$W/challenge.json" st
  st=$(curl -sS -o "$c" -w '%{http_code}' -X POST "$URL/api/v1/challenges") || st=000
  if [ "$st" != 201 ] || ! jq -e '(.nonce|type=="string") and (.expires_at|type=="string")
      and (.terms_sha256|test("^[0-9a-f]{64}$")) and (.terms_url|type=="string")' "$c" >/dev/null 2>&1; then
    fail "challenge: status $st body $(head -c 300 "$c" 2>/dev/null)"
    NONCE=none
    TERMS_SHA=none
    return 0
  fi
  NONCE=$(jq -r .nonce "$c")
  TERMS_SHA=$(jq -r .terms_sha256 "$c")
  local turl
  turl=$(jq -r .terms_url "$c")
  case "$turl" in http*) ;; *) turl="$URL$turl" ;; esac
  local got
  got=$(curl -fsS "$turl" | openssl dgst -sha256 -r | cut -d' ' -f1) || got=unreachable
  if [ "$got" != "$TERMS_SHA" ]; then
    fail "challenge: terms at $turl hash to $got, challenge says $TERMS_SHA"
  fi
}

# apply CARD_CERT CARD_KEY NAME BIRTH ADDRESS [opt=value...]
#   opts: gender= nonce= terms= format= kind= key=FILE keyalg=ec|rsa1024|ed25519
#         extra=1 (unknown field)  tamper=1 (flip bytes inside the DER)  ctype=
#         nopost=1 (only build $LAST_CMS)
apply() {
  local cert=$1 ckey=$2 name=$3 birth=$4 address=$5
  shift 5
  local gender=1 nonce='' terms='' format='shuin-application/1' kind=new key='' keyalg=ec
  local extra=0 tamper=0 ctype=application/pkcs7-mime nopost=0 kv
  for kv in "$@"; do
    case "$kv" in
      gender=*) gender=${kv#gender=} ;;
      nonce=*) nonce=${kv#nonce=} ;;
      terms=*) terms=${kv#terms=} ;;
      format=*) format=${kv#format=} ;;
      kind=*) kind=${kv#kind=} ;;
      key=*) key=${kv#key=} ;;
      keyalg=*) keyalg=${kv#keyalg=} ;;
      extra=*) extra=${kv#extra=} ;;
      tamper=*) tamper=${kv#tamper=} ;;
      ctype=*) ctype=${kv#ctype=} ;;
      nopost=*) nopost=${kv#nopost=} ;;
      *) die "apply: bad option $kv" ;;
    esac
  done
  N=$((N + 1))
  local d="$W/app/$N"
  mkdir -p "$d"
  challenge
  [ -n "$nonce" ] || nonce=$NONCE
  [ -n "$terms" ] || terms=$TERMS_SHA
  if [ -z "$key" ]; then
    key="$d/new.key"
    case "$keyalg" in
      ec) ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" ;;
      rsa1024) ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$key" ;;
      ed25519) ossl genpkey -algorithm ed25519 -out "$key" ;;
      *) die "apply: bad keyalg $keyalg" ;;
    esac
  fi
  LAST_KEY=$key
  ossl req -new -key "$key" -outform DER -subj /C=JP -out "$d/csr.der"
  local csr_b64
  csr_b64=$(openssl base64 -A -in "$d/csr.der")
  jq -cn --arg format "$format" --arg kind "$kind" --arg nonce "$nonce" --arg terms "$terms" \
    --arg name "$name" --arg birth "$birth" --arg address "$address" --arg gender "$gender" \
    --arg csr "$csr_b64" --argjson extra "$extra" \
    '{format: $format, kind: $kind, nonce: $nonce, terms_sha256: $terms,
      applicant: {name: $name, birth_date: $birth, address: $address, gender: $gender},
      csr: $csr} + (if $extra == 1 then {favourite_colour: "blue"} else {} end)' \
    | tr -d '\n' >"$d/app.json"
  ossl cms -sign -binary -nodetach -md sha256 -outform DER -in "$d/app.json" \
    -signer "$cert" -inkey "$ckey" -out "$d/app.p7m"
  if [ "$tamper" = 1 ]; then
    python3 - "$d/app.p7m" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
old, new = b'"kind":"new"', b'"kind":"wen"'
assert b.count(old) == 1, "content not found in the DER"
open(p, "wb").write(b.replace(old, new))
PY
  fi
  LAST_CMS="$d/app.p7m"
  [ "$nopost" = 1 ] && return 0
  post "$LAST_CMS" "$ctype"
}

# expect LABEL STATUS CODE
expect() {
  local label=$1 want_status=$2 want_code=$3 got_code
  if [ "$want_status" = 201 ] || [ "$want_status" = 202 ]; then
    got_code=$(jq -r '.status // empty' "$BODY" 2>/dev/null || true)
  else
    got_code=$(jq -r '.code // empty' "$BODY" 2>/dev/null || true)
  fi
  local problems=()
  [ "$STATUS" = "$want_status" ] || problems+=("status $STATUS")
  [ "$got_code" = "$want_code" ] || problems+=("code '${got_code}'")
  if [ "${want_status:0:1}" = 4 ] || [ "${want_status:0:1}" = 5 ]; then
    local ct typ
    ct=$(grep -i '^content-type:' "$HDRS" | tail -n 1 | cut -d: -f2- | tr -d ' \r' || true)
    case "$ct" in application/problem+json*) ;; *) problems+=("content-type '$ct'") ;; esac
    typ=$(jq -r '.type // empty' "$BODY" 2>/dev/null || true)
    [ "$typ" = "urn:shuin:problem:$want_code" ] || problems+=("type '$typ'")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    pass "$label -> $want_status $want_code"
  else
    fail "$label -> want $want_status $want_code, got ${problems[*]}; body: $(head -c 400 "$BODY" | tr '\n' ' ')"
  fi
}

NAME='山田　太郎'
BIRTH='1990-01-02'
ADDR='東京都千代田区霞が関1-1-1'
VC=$(card valid pem)
VK=$(card valid key)

# ---------------------------------------------------------------------------------------
# 5. Cases.
# ---------------------------------------------------------------------------------------

# Valid card: issued, verifiable, lint-clean, and readable back.
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR"
expect "valid card" 201 issued
VALID_CMS=$LAST_CMS
VALID_KEY=$LAST_KEY
cp "$BODY" "$W/issued.json"
if [ "$STATUS" = 201 ]; then
  jq -r .certificate_pem "$W/issued.json" >"$W/issued.pem"
  if curl -fsS -o "$W/root.der" "$URL/repository/root.crt" &&
    curl -fsS -o "$W/issuing.der" "$URL/repository/ca.crt" &&
    openssl x509 -inform DER -in "$W/root.der" -out "$W/root.pem" 2>/dev/null &&
    openssl x509 -inform DER -in "$W/issuing.der" -out "$W/issuing.pem" 2>/dev/null; then
    if out=$(openssl verify -CAfile "$W/root.pem" -untrusted "$W/issuing.pem" "$W/issued.pem" 2>&1); then
      pass "issued certificate verifies to /repository/root.crt via /repository/ca.crt"
    else
      fail "openssl verify: $out"
    fi
  else
    fail "could not fetch /repository/root.crt and /repository/ca.crt as DER"
  fi
  # The issued certificate certifies the new key.
  if [ "$(openssl x509 -in "$W/issued.pem" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$VALID_KEY" -pubout 2>/dev/null)" ]; then
    pass "issued certificate holds the applicant's new key"
  else
    fail "issued certificate does not hold the applicant's new key"
  fi
  if command -v lint_pkix_cert >/dev/null 2>&1; then
    for f in "$W/issued.pem" "$W/issuing.pem" "$W/root.pem" "$W/ca.pem"; do
      if out=$(lint_pkix_cert lint -s ERROR "$f" 2>&1) && [ -z "$out" ]; then
        pass "pkilint (ERROR) clean: $(basename "$f")"
      else
        fail "pkilint on $(basename "$f"): $out"
      fi
    done
  elif [ "${SHUIN_REQUIRE_PKILINT:-0}" = 1 ]; then
    fail "lint_pkix_cert not found and SHUIN_REQUIRE_PKILINT=1"
  else
    skip "pkilint (lint_pkix_cert not on PATH)"
  fi
  APP_ID=$(jq -r .application_id "$W/issued.json")
  st=$(curl -sS -o "$BODY" -w '%{http_code}' "$URL/api/v1/applications/$APP_ID") || st=000
  if [ "$st" = 200 ] && [ "$(jq -r .status "$BODY")" = issued ] &&
    [ "$(jq -r .serial "$BODY")" = "$(jq -r .serial "$W/issued.json")" ]; then
    pass "GET /api/v1/applications/{id} -> 200 issued"
  else
    fail "GET /api/v1/applications/$APP_ID -> $st $(head -c 300 "$BODY")"
  fi
fi

# Replay of the very same body.
post "$VALID_CMS"
expect "replay of the same CMS" 409 nonce_reused

# Same new key again with a fresh nonce.
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" key="$VALID_KEY"
expect "key reuse" 409 key_reused

# Address variants that normalise equal: full-width digits and hyphen; other hyphens + space.
apply "$VC" "$VK" "$NAME" "$BIRTH" '東京都千代田区霞が関１－１－１'
expect "address full-width variant" 201 issued
apply "$VC" "$VK" "$NAME" "$BIRTH" '東京都千代田区霞が関 1‐1−1'
expect "address hyphen/space variant" 201 issued
apply "$VC" "$VK" "山田 太郎" "$BIRTH" "$ADDR"
expect "name with ASCII space instead of U+3000" 201 issued

# JPKI certificate problems.
apply "$(card forged pem)" "$(card forged key)" "$NAME" "$BIRTH" "$ADDR"
expect "forged issuer (same DN, other key)" 422 jpki_untrusted_issuer
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" tamper=1
expect "tampered content" 422 cms_signature_invalid
apply "$(card revoked pem)" "$(card revoked key)" "$NAME" "$BIRTH" "$ADDR"
expect "revoked card" 422 jpki_certificate_revoked
apply "$(card expired pem)" "$(card expired key)" "$NAME" "$BIRTH" "$ADDR"
expect "expired card" 422 jpki_certificate_expired
apply "$(card notyet pem)" "$(card notyet key)" "$NAME" "$BIRTH" "$ADDR"
expect "not-yet-valid card" 422 jpki_certificate_not_yet_valid
apply "$(card userauth pem)" "$(card userauth key)" "$NAME" "$BIRTH" "$ADDR"
expect "user-authentication certificate" 422 jpki_not_signing_certificate
apply "$(card testcard pem)" "$(card testcard key)" "$NAME" "$BIRTH" "$ADDR"
expect "test-card policy" 422 jpki_test_certificate
apply "$(card badbasic pem)" "$(card badbasic key)" "$NAME" "$BIRTH" "$ADDR"
expect "malformed basic items (gender 9)" 422 jpki_basic_info_invalid

# Applicant entries against the card.
apply "$VC" "$VK" '山田　次郎' "$BIRTH" "$ADDR"
expect "name mismatch" 422 applicant_name_mismatch
apply "$VC" "$VK" "$NAME" '1990-01-03' "$ADDR"
expect "birth date mismatch" 422 applicant_birth_date_mismatch
apply "$VC" "$VK" "$NAME" "$BIRTH" '東京都千代田区霞が関1-1-2'
expect "address mismatch" 422 applicant_address_mismatch
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" gender=2
expect "gender mismatch" 422 applicant_gender_mismatch
apply "$(card subst pem)" "$(card subst key)" '髙橋　一郎' "$BIRTH" "$ADDR"
expect "substitute-character name mismatch" 202 pending_review
if jq -e '.review_reasons | index("name_substitute_characters")' "$BODY" >/dev/null 2>&1; then
  pass "review_reasons contains name_substitute_characters"
else
  fail "review_reasons lacks name_substitute_characters: $(head -c 300 "$BODY")"
fi
apply "$(card eraunknown pem)" "$(card eraunknown key)" "$NAME" "$BIRTH" "$ADDR"
expect "era unknown" 202 pending_review
if jq -e '.review_reasons | index("birth_date_era_unknown")' "$BODY" >/dev/null 2>&1; then
  pass "review_reasons contains birth_date_era_unknown"
else
  fail "review_reasons lacks birth_date_era_unknown: $(head -c 300 "$BODY")"
fi

# Challenge problems.
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" nonce="$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')"
expect "unknown nonce" 422 nonce_unknown
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" terms="$(printf '0%.0s' $(seq 1 64))"
expect "wrong terms_sha256" 422 terms_mismatch

# New-key policy.
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" keyalg=rsa1024
expect "RSA-1024 CSR" 422 key_too_weak
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" keyalg=ed25519
expect "Ed25519 CSR" 422 key_algorithm_not_allowed

# Transport and structure.
printf 'hello' >"$W/hello.bin"
post "$W/hello.bin"
expect "body not DER" 400 malformed_request
sz=$(wc -c <"$VALID_CMS")
head -c $((sz / 2)) "$VALID_CMS" >"$W/truncated.p7m"
post "$W/truncated.p7m"
expect "truncated CMS" 400 malformed_request
head -c $((70 * 1024)) /dev/urandom >"$W/big.bin"
post "$W/big.bin"
expect "70 KiB body" 413 payload_too_large
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" ctype=application/json
expect "Content-Type application/json" 415 unsupported_media_type
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" extra=1
expect "unknown JSON field" 400 malformed_request
apply "$VC" "$VK" "$NAME" "$BIRTH" "$ADDR" format=shuin-application/9
expect "format shuin-application/9" 400 unsupported_format

# Still alive.
if curl -fsS -o /dev/null "$URL/healthz" && kill -0 "$SERVER_PID" 2>/dev/null; then
  pass "server alive and /healthz answers after all cases"
else
  fail "server died or /healthz stopped answering"
fi

# ---------------------------------------------------------------------------------------
# 6. Ledger.
# ---------------------------------------------------------------------------------------
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

if out=$("$BIN" ledger verify --data "$INST" 2>&1); then
  pass "ledger verify on the untouched ledger"
else
  fail "ledger verify on the untouched ledger: $out"
fi
if "$BIN" ledger show --data "$INST" --json >"$W/ledger.json" 2>"$W/ledger.err"; then
  # Accept a JSON array, an object holding an array, or JSON Lines.
  if jq -s -e '[.[] | if type == "array" then .[] elif type == "object" and has("entries") then .entries[] else . end]
      | any(.kind == "application.accepted" and .actor.role == "responsible_person")' \
    "$W/ledger.json" >/dev/null 2>&1; then
    pass "ledger has application.accepted by responsible_person"
  else
    fail "ledger show: no application.accepted entry with actor role responsible_person: $(head -c 400 "$W/ledger.json")"
  fi
else
  fail "ledger show --json: $(head -c 300 "$W/ledger.err")"
fi

cp -a "$INST" "$W/inst-pristine"

tamper_ledger() { # DBFILE RECOMPUTE_LEAF(0|1)
  python3 - "$1" "$2" <<'PY'
import hashlib, sqlite3, sys
db, recompute = sys.argv[1], sys.argv[2] == "1"
con = sqlite3.connect(db)
cols = [r[1] for r in con.execute("PRAGMA table_info(ledger_entries)")]
assert "canonical" in cols, cols
rows = con.execute("SELECT rowid, canonical FROM ledger_entries ORDER BY rowid").fetchall()
assert rows, "empty ledger"
# Pick an entry in the middle, and change one character of a value inside its payload
# (an ASCII letter or digit, so the blob stays valid UTF-8 and valid JSON).
rowid, canon = rows[len(rows) // 2]
is_text = isinstance(canon, str)
b = canon.encode() if is_text else bytes(canon)
i = b.find(b'"payload"')
assert i >= 0, b[:200]
j = b.find(b':"', i + len(b'"payload"'))  # the first string value in the payload
assert j >= 0, b[:200]
j += 2
while j < len(b) and b[j:j+1] not in b'0123456789abcdefghijklmnopqrstuvwxyz':
    j += 1
assert j < len(b)
c = b[j:j+1]
repl = b"1" if c == b"0" else (b"0" if c.isdigit() else (b"b" if c == b"a" else b"a"))
nb = b[:j] + repl + b[j+1:]
val = nb.decode() if is_text else nb
con.execute("UPDATE ledger_entries SET canonical = ? WHERE rowid = ?", (val, rowid))
if recompute:
    assert "leaf_hash" in cols, cols
    old = con.execute("SELECT leaf_hash FROM ledger_entries WHERE rowid = ?", (rowid,)).fetchone()[0]
    h = hashlib.sha256(b"\x00" + nb).digest()
    new = h.hex() if isinstance(old, str) else h
    con.execute("UPDATE ledger_entries SET leaf_hash = ? WHERE rowid = ?", (new, rowid))
con.commit()
con.close()
PY
}

for variant in 0 1; do
  rm -rf "$INST"
  cp -a "$W/inst-pristine" "$INST"
  label="one payload character changed"
  [ "$variant" = 1 ] && label="$label, leaf_hash recomputed"
  if ! tout=$(tamper_ledger "$INST/shuin.db" "$variant" 2>&1); then
    fail "ledger tamper ($label) could not edit the database: $tout"
    continue
  fi
  rc=0
  out=$("$BIN" ledger verify --data "$INST" 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then
    fail "ledger verify accepted a tampered ledger ($label): $out"
  elif [ "$rc" -ge 128 ] || printf '%s' "$out" | grep -q 'panicked'; then
    fail "ledger verify crashed on a tampered ledger ($label): exit $rc: $out"
  else
    pass "ledger verify rejects a tampered ledger ($label)"
  fi
done

echo "outside-client: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
