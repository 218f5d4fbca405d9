#!/usr/bin/env bash
# examples/ is a project of its own, built the ways a program of an operator would be, against
# the staged install only (never the build tree):
#  - CMake: find_package(trisa), trisa::trisa (libtrisa.so) and trisa::trisa_static;
#  - pkg-config: `pkg-config --cflags --libs trisa` (shared), and `--static` against an install
#    that has libtrisa.a only (what a static-only -dev package gives);
# and each program built is run against the emulator: the first enrols a CSR (one upload),
# the others find it already issued (nothing sent). The shared builds load libtrisa.so.0
# from the install; the static ones load no libtrisa at all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/emulator.sh"
. "$(dirname "$0")/sectigo.sh"
need cmake
need cc
need pkg-config
need curl
need openssl
[ -e "$TRISA_STAGE/lib/libtrisa.a" ] || [ -e "$TRISA_STAGE/lib64/libtrisa.a" ] || skip "no libtrisa.a staged"
libdir=$TRISA_STAGE/lib
[ -d "$TRISA_STAGE/lib64" ] && [ -e "$TRISA_STAGE/lib64/libtrisa.a" ] && libdir=$TRISA_STAGE/lib64
# A sanitizer build's library needs its runtime in the program too (as any user of such a
# build would link it).
SAN=
if nm "$libdir/libtrisa.a" 2>/dev/null | grep -q __asan_report; then
    SAN="-fsanitize=address,undefined"
fi
export CFLAGS="$SAN" LDFLAGS="$SAN"

# ---- CMake, both targets ----------------------------------------------------------------
for kind in shared static; do
    flag=OFF
    [ "$kind" = static ] && flag=ON
    run cmake -S "$TRISA_SOURCE_DIR/examples" -B "cmake-$kind" -DCMAKE_PREFIX_PATH="$TRISA_STAGE" \
        -DTRISA_EXAMPLES_STATIC=$flag -DCMAKE_BUILD_TYPE=Release
    assert_rc 0 "cmake configure ($kind): $OUT"
    run cmake --build "cmake-$kind"
    assert_rc 0 "cmake build ($kind): $OUT"
    assert_exists "cmake-$kind/enroll_csr"
    assert_exists "cmake-$kind/sectigo_upload"
done
ok "examples/ configures and builds as its own project: find_package(trisa), trisa::trisa and trisa::trisa_static"

# ---- pkg-config, shared; and --static against libtrisa.a alone ----------------------------
export PKG_CONFIG_PATH="$libdir/pkgconfig"
run pkg-config --cflags --libs trisa
assert_rc 0 "pkg-config trisa"
# shellcheck disable=SC2046
# shellcheck disable=SC2086
run cc $SAN -o pc-shared "$TRISA_SOURCE_DIR/examples/enroll_csr.c" $(pkg-config --cflags --libs trisa)
assert_rc 0 "cc with pkg-config --libs: $ERR"
mkdir -p static-only/lib
cp -a "$TRISA_STAGE/include" static-only/
cp "$libdir/libtrisa.a" static-only/lib/
cp -a "$libdir/pkgconfig" static-only/lib/
static_libs=$(PKG_CONFIG_PATH="$T/static-only/lib/pkgconfig" pkg-config --static --libs trisa)
assert_not_contains "$static_libs" "-llber" "pkg-config --static (no private libraries of libcurl)"
assert_not_contains "$static_libs" "-lzstd" "pkg-config --static"
# shellcheck disable=SC2046,SC2086
run cc $SAN -o pc-static "$TRISA_SOURCE_DIR/examples/enroll_csr.c" \
    $(PKG_CONFIG_PATH="$T/static-only/lib/pkgconfig" pkg-config --cflags trisa) $static_libs
assert_rc 0 "cc with pkg-config --static --libs: $ERR"
ok "pkg-config: --libs links libtrisa.so; --static links libtrisa.a with the shared libraries it uses ($static_libs)"

# Which libtrisa each loads (the static ones: none).
libtrisa() { LD_LIBRARY_PATH="$libdir" ldd "$1" | awk '/libtrisa/ { print $1 }'; }
assert_eq "$(libtrisa cmake-shared/enroll_csr)" "libtrisa.so.0" "cmake-shared"
assert_eq "$(libtrisa pc-shared)" "libtrisa.so.0" "pc-shared"
assert_eq "$(libtrisa cmake-static/enroll_csr)" "" "cmake-static"
assert_eq "$(libtrisa pc-static)" "" "pc-static"
ok "the shared builds load libtrisa.so.0, the static ones no libtrisa"

# ---- each one runs ------------------------------------------------------------------------
start_emulator --test-hooks --processing-delay 0
use_emulator
make_csr example.example
subject=$(openssl req -in "$T/example.example.csr" -noout -subject -nameopt rfc2253,-esc_msb | sed 's/^subject=//')
first=1
for prog in cmake-shared/enroll_csr cmake-static/enroll_csr pc-shared pc-static; do
    run env LD_LIBRARY_PATH="$libdir" "$T/$prog" "$T/example.example.csr" "$T/example.example.key" 42 \
        "$EMU_CA" "$T/out"
    assert_rc 0 "$prog: $ERR"
    full=$(wc -c <"$T/out/fullchain.pem")
    if [ "$first" = 1 ]; then
        assert_eq "$OUT" "uploaded: batch 1
verified: yes
wrote cert.pem, chain.pem, fullchain.pem, root.pem, pool.pem, node.pem in $T/out
issued
batch 1: $subject, $full bytes of fullchain.pem in $T/out" "$prog output"
        first=0
        run openssl verify -CAfile "$EMU_CA" -untrusted "$T/out/chain.pem" "$T/out/cert.pem"
        assert_rc 0 "openssl verify"
        assert_eq "$OUT" "$T/out/cert.pem: OK" "openssl verify"
        assert_eq "$(openssl x509 -in "$T/out/cert.pem" -noout -pubkey)" \
            "$(openssl pkey -in "$T/example.example.key" -pubout)" "the certificate's key"
    else
        assert_eq "$OUT" "already issued
batch 1: $subject, $full bytes of fullchain.pem in $T/out" "$prog output"
    fi
done
assert_eq "$(emu_count POST /api/v1/batches/upload)" 1 "uploads"
assert_eq "$subject" "O=Test VASP,CN=example.example" "the subject, as the tools print it"
ok "every build runs: one upload, then already issued; the subject printed as RFC 4514"
done_testing
