#!/usr/bin/env bash
# The whole path on one machine, no account: a local Sectigo emulator over HTTPS, a key
# and CSR from conf/trisa.conf, upload, follow, download, verify against the emulator's
# root; then the server-generated-key path (sectigo create + trisa-fetch on its legacy
# PKCS#12); then renewal: a trisa-renew lineage, its first certificate, a renewal with a
# new key when due, the live switch and the deploy hook. Builds nothing: give the install
# prefix (default build/stage).
#
#   scripts/demo.sh [PREFIX]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$here/build/stage}
[ -x "$prefix/bin/trisa-fetch" ] || { echo "demo: no trisa-fetch under $prefix/bin (install first)" >&2; exit 1; }
prefix=$(cd "$prefix" && pwd)
export PATH="$prefix/bin:$PATH"
export LD_LIBRARY_PATH="$prefix/lib:$prefix/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
conf="$prefix/share/trisa/trisa.conf"
[ -f "$conf" ] || conf="$here/conf/trisa.conf"
for t in sectigo trisa-csr trisa-fetch trisa-renew; do
    command -v "$t" >/dev/null || { echo "demo: $t not found in $prefix/bin" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/trisa-demo.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
cd "$work"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '    $ %s\n' "$*"; "$@"; }

step "1. Start the Sectigo emulator over HTTPS (sectigo serve --tls-self-signed) in $work"
mkdir -m 700 state
# Certificates live 10 minutes here, so that renewal can be rehearsed in the demo.
sectigo serve --addr 127.0.0.1:0 --state-dir state --tls-self-signed --processing-delay 0 \
    --cert-lifetime 10m --quiet >serve.out 2>serve.err &
server_pid=$!
url=
for _ in $(seq 1 600); do
    url=$(sed -n 's/^listening on //p' serve.out | head -n 1)
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat serve.err >&2; echo "demo: sectigo serve exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "demo: sectigo serve did not start" >&2; exit 1; }
echo "    listening on $url (pid $server_pid); TLS CA state/tls-ca.pem, issuing root state/ca/root.pem"
export SECTIGO_ENDPOINT="$url" SECTIGO_ENVIRONMENT=testing
export SECTIGO_USERNAME=staging SECTIGO_PASSWORD=staging-password
export SECTIGO_CA_BUNDLE="$work/state/tls-ca.pem" XDG_CACHE_HOME="$work/cache"
export TRISA_STATE_DIR="$work/trisa-state"   # trisa-fetch's journal, kept with the demo's files
profile=42

step "2. Make a key and a CSR from $conf (the key never leaves this host)"
show trisa-csr -config "$conf" -keyout key.pem -out req.csr
ls -l key.pem req.csr | sed 's/^/    /'

step "3. Upload the CSR, follow the batch, download, verify and write the files"
echo "    (the certificate must carry the CSR's DNS names: checked without being asked)"
show trisa-fetch --csr req.csr --profile "$profile" --out-dir issued --key key.pem \
    --trust state/ca/root.pem --interval 1
ls -l issued | sed 's/^/    /'

step "4. An independent check: openssl verify against the emulator's root"
show openssl verify -CAfile state/ca/root.pem -untrusted issued/chain.pem issued/cert.pem

step "5. The server-generated key: sectigo create, then trisa-fetch on its legacy PKCS#12"
(umask 077 && openssl rand -hex 12 >p12pass.txt)
# -a takes the profile id, as the reference documents it (an authority id works too).
create=$(sectigo create -a "$profile" -d demo.example.com --password-file p12pass.txt)
batch=$(printf '%s' "$create" | sed -n 's/^ *"batchId": *\([0-9]*\).*/\1/p' | head -n 1)
echo "    $ sectigo create -a $profile -d demo.example.com --password-file p12pass.txt  -> batch $batch"
show trisa-fetch --batch "$batch" --out-dir server --password-file p12pass.txt \
    --trust state/ca/root.pem --dns demo.example.com --interval 1 \
    --p12-out server/bundle.p12 --passout file:p12pass.txt
ls -l server | sed 's/^/    /'

step "6. Keep it valid: a trisa-renew lineage, renewed with a new key when due"
(umask 077 && printf 'SECTIGO_USERNAME=%s\nSECTIGO_PASSWORD=%s\nSECTIGO_ENDPOINT=%s\nSECTIGO_ENVIRONMENT=testing\nSECTIGO_CA_BUNDLE=%s\n' \
    "$SECTIGO_USERNAME" "$SECTIGO_PASSWORD" "$url" "$SECTIGO_CA_BUNDLE" >sectigo.env)
show trisa-renew add vasp --config "$conf" --profile "$profile" --key ec:P-384 \
    --trust state/ca/root.pem --credentials sectigo.env \
    --deploy-hook 'echo "    deploy hook: $TRISA_LINEAGE is now serial $TRISA_SERIAL, valid until $TRISA_NOT_AFTER"'
show trisa-renew vasp
show trisa-renew list
later=$(date -u -d '+8 min' +%Y-%m-%dT%H:%M:%SZ)
echo "    (8 minutes on, two thirds of this 10-minute certificate's life have passed: it is due)"
show trisa-renew check --now "$later" && echo "    check: something is due"
show trisa-renew --now "$later"
show trisa-renew list
echo "    $ readlink $TRISA_STATE_DIR/lineages/vasp/live"
echo "    $(readlink "$TRISA_STATE_DIR/lineages/vasp/live")   (version 1 is kept beside it; 'trisa-renew rollback vasp' goes back)"

step "7. Stop the emulator"
cleanup
server_pid=
echo "    stopped. Everything made is in $work:"
echo "      issued/  cert.pem chain.pem fullchain.pem root.pem pool.pem node.pem   (our key: key.pem)"
echo "      server/  cert.pem chain.pem fullchain.pem root.pem pool.pem node.pem key.pem bundle.p12 (modern PKCS#12)"
echo "      trisa-state/lineages/vasp/  live -> versions/2, versions/1, versions/2 (each with its key.pem)"
