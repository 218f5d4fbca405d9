# Sourceable after lib.sh: a SoftHSM2 token folder private to the test.
# new_softhsm LABEL [LABEL...] makes tokens with user PIN 1234 (SO PIN 5678), and exports
# SOFTHSM2_CONF, P11_MODULE (the SoftHSM2 module) and PIN_FILE (a file holding 1234).
# Skips the test (77) when SoftHSM2 is not installed.
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
    echo 1234 >"$PIN_FILE"
    chmod 600 "$PIN_FILE"
    unset TRISA_PKCS11_PIN TRISA_PKCS11_MODULE
}
