# Sourceable after lib.sh: SoftHSM2 tokens private to the test, reached directly, through
# p11-kit's proxy, or through the fault-injecting test module.
#
# new_softhsm LABEL [LABEL...] makes tokens with user PIN 1234 (SO PIN 5678), and exports
# SOFTHSM2_CONF, P11_MODULE (the SoftHSM2 module) and PIN_FILE (a 0600 file holding 1234
# and a newline). Skips the test (77) when SoftHSM2 is not installed.
new_softhsm() {
    need softhsm2-util "Debian package softhsm2"
    P11_MODULE=""
    for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
        [ -r "$m" ] && { P11_MODULE=$m; break; }
    done
    [ -n "$P11_MODULE" ] || skip "the SoftHSM2 PKCS#11 module is not installed"
    mkdir -p "$T/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$T/tokens" >"$T/softhsm2.conf"
    export SOFTHSM2_CONF="$T/softhsm2.conf" P11_MODULE
    for label in "$@"; do
        softhsm2-util --init-token --free --label "$label" --pin 1234 --so-pin 5678 >/dev/null
    done
    PIN_FILE="$T/pin"
    (umask 077 && echo 1234 >"$PIN_FILE")
    unset TRISA_PKCS11_PIN TRISA_PKCS11_MODULE
}

# register_with_p11kit: register SoftHSM2 with p11-kit the way Debian's softhsm2 package
# does (a module config named softhsm2.module holding `module: PATH`), but in a config
# folder of the test's own: $XDG_CONFIG_HOME/pkcs11/modules, which p11-kit reads as the
# user's, so /etc is left alone. Exports P11KIT_PROXY (p11-kit's proxy module, as
# pkg-config names it). Skips when p11-kit is missing or ignores user configs.
register_with_p11kit() {
    need p11-kit "Debian package p11-kit"
    need pkg-config
    P11KIT_PROXY=$(pkg-config --variable=proxy_module p11-kit-1 2>/dev/null || true)
    [ -n "$P11KIT_PROXY" ] && [ -r "$P11KIT_PROXY" ] || skip "p11-kit's proxy module is not installed (Debian package p11-kit-modules)"
    mkdir -p "$T/config/pkcs11/modules"
    printf '# as Debian registers SoftHSM2\nmodule: %s\n' "$P11_MODULE" >"$T/config/pkcs11/modules/softhsm2.module"
    export XDG_CONFIG_HOME="$T/config" P11KIT_PROXY
    p11-kit list-modules 2>/dev/null | grep -q "token: ${1:-trisa}$" ||
        skip "p11-kit does not read the user's module configs here (user-config in /etc/pkcs11/pkcs11.conf?)"
}

# use_faults DIRECTIVES: the fault-injecting module (tests/pkcs11-faults) in front of
# SoftHSM2, with PKCS11_FAULTS=DIRECTIVES plus a log in $FAULTS_LOG. Exports FAULTS (its
# path). Skips when it was not built.
use_faults() {
    FAULTS=${TRISA_PKCS11_FAULTS:-}
    [ -n "$FAULTS" ] && [ -r "$FAULTS" ] || skip "the pkcs11-faults test module was not built"
    FAULTS_LOG="$T/faults.log"
    : >"$FAULTS_LOG"
    mkdir -p "$T/faults-state"
    export PKCS11_FAULTS="$1;log=$FAULTS_LOG;state=$T/faults-state" PKCS11_FAULTS_MODULE="$P11_MODULE" FAULTS
}

# faults_log_count PATTERN: how many lines of the module's log contain PATTERN.
faults_log_count() { grep -c -- "$1" "$FAULTS_LOG" || true; }

# bundle_for CSR BUNDLE: issue a certificate for CSR from a local two-level CA (made on
# first use: $T/ca/root.pem trusts it) and write leaf, issuing CA and root as one PEM
# file, which trisa-fetch --zip takes like a downloaded bundle. No emulator needed.
bundle_for() {
    local ca="$T/ca"
    if [ ! -e "$ca/root.pem" ]; then
        mkdir -p "$ca"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ca/root.key" \
            -out "$ca/root.pem" -subj "/CN=Test Root CA" -days 30 \
            -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ca/int.key" \
            -out "$ca/int.csr" -subj "/CN=Test Issuing CA" 2>/dev/null
        printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$ca/ca.ext"
        openssl x509 -req -in "$ca/int.csr" -CA "$ca/root.pem" -CAkey "$ca/root.key" -set_serial 2 \
            -out "$ca/int.pem" -days 30 -extfile "$ca/ca.ext" 2>/dev/null
        printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:trisa.example.com\nauthorityKeyIdentifier=keyid\n' >"$ca/leaf.ext"
        echo 0100 >"$ca/serial"
    fi
    openssl x509 -req -in "$1" -CA "$ca/int.pem" -CAkey "$ca/int.key" -CAserial "$ca/serial" \
        -out "$2.leaf" -days 10 -extfile "$ca/leaf.ext" 2>/dev/null || fail "local CA cannot sign $1"
    cat "$2.leaf" "$ca/int.pem" "$ca/root.pem" >"$2"
    rm -f "$2.leaf"
}
