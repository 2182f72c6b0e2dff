#!/usr/bin/env bash
# A user's own tools and driver in the guest (issue 12 item 5): readerlab guest build with
# --with pcsc-tools (perl and its modules pulled from the installed packages, directory
# symlinks kept), a local .deb, and a pcsc-lite driver bundle (here a copy of libccid under
# another library name, as ifd-ccid.bundle: libccid reads that bundle's Info.plist). Then
# scriptor answers GET CHALLENGE through the user's driver, and ATR_analysis decodes an ATR.
#   guest_tools_test.sh READERLAB_BINARY GUEST_DIR    (GUEST_DIR is written, for guest_shell_test.sh)
set -u
readerlab=$1
guest=$2
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The user's driver bundle.
bundle=$work/ifd-ccid.bundle
mkdir -p "$bundle/Contents/Linux"
cp -L /usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist "$bundle/Contents/Info.plist"
sed -i 's#<string>libccid.so</string>#<string>libmyccid.so</string>#' "$bundle/Contents/Info.plist"
cp /usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Linux/libccid.so "$bundle/Contents/Linux/libmyccid.so"

# The user's package: a script, depending on an installed package.
package=$work/hello
mkdir -p "$package/DEBIAN" "$package/usr/bin"
printf 'Package: readerlab-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: readerlab <readerlab@example.org>\nDepends: pcsc-tools\nDescription: a local package for the guest test\n' >"$package/DEBIAN/control"
printf '#!/bin/sh\necho "hello from a local package"\n' >"$package/usr/bin/readerlab-hello"
chmod 755 "$package/usr/bin/readerlab-hello"
dpkg-deb --build "$package" "$work/hello.deb" >/dev/null || fail "dpkg-deb --build failed"

# Bad input is refused before anything is built.
out=$("$readerlab" guest build --out "$work/none" --driver-bundle "$work/nothing.bundle" 2>&1); status=$?
[ $status -eq 2 ] || fail "a missing --driver-bundle folder exits $status, not 2: $out"
mkdir -p "$work/not-a-bundle/Contents"
out=$("$readerlab" guest build --out "$work/none" --driver-bundle "$work/not-a-bundle" 2>&1); status=$?
[ $status -eq 1 ] && grep -q "must end in .bundle" <<<"$out" || fail "a folder not named .bundle is not refused: $out"
out=$("$readerlab" guest build --out "$work/none" --with no-such-package-here 2>&1); status=$?
[ $status -eq 1 ] && grep -q "no-such-package-here" <<<"$out" || fail "an unknown --with package is not refused: $out"
[ -e "$work/none/initrd.img" ] && fail "a refused build wrote an initrd"

"$readerlab" guest build --out "$guest" --with pcsc-tools --deb "$work/hello.deb" --driver-bundle "$bundle" \
    >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "guest build --with pcsc-tools failed"; }
manifest=$guest/manifest.txt
grep -q "^link /usr/share/perl/5.36 -> 5.36.0$" "$manifest" || fail "the perl directory symlink is not kept"
grep -q "^package perl-modules-5.36 " "$manifest" || fail "perl's modules were not pulled in as a dependency"
grep -q "^package libpcsc-perl " "$manifest" || fail "libpcsc-perl was not pulled in"
grep -q "^deb readerlab-hello 1.0 " "$manifest" || fail "the local .deb is not in the manifest"
grep -q "^driver bundle /usr/lib/pcsc/drivers/ifd-ccid.bundle replaced$" "$manifest" || fail "the user's bundle did not replace libccid's"
grep -q "^reader 0x1209:0x0001:.* registered in /usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist$" "$manifest" ||
    fail "the reader is not registered in the user's bundle"
grep -q "/usr/share/doc/" "$manifest" && fail "documentation was carried"

# t1-fs (guest shell's default card) answers GET CHALLENGE with 8 bytes.
"$readerlab" guest shell --guest "$guest" --out "$work/out" --timeout 120 \
    -- 'echo 0084000008 | scriptor' \
    -- 'ATR_analysis "3B 9B 13 81 31 FE 45 80 59 72 65 61 64 65 72 6C 61 62 30"' \
    -- readerlab-hello >"$work/shell.out" 2>"$work/shell.err"
status=$?
cat "$work/shell.out" "$work/shell.err"
[ $status -eq 0 ] || fail "guest shell exited $status"
grep -Eq "^< ([0-9A-F]{2} ){8}90 00" "$work/shell.out" || fail "scriptor did not print 8 bytes and 90 00"
grep -q "Protocol T = 1" "$work/shell.out" || fail "ATR_analysis did not decode the ATR"
grep -q "^hello from a local package$" "$work/shell.out" || fail "the local package's program did not run"
grep -q "using /usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Linux/libmyccid.so" "$work/out/pcscd.log" ||
    fail "pcscd did not load the user's driver library"
[ "$(grep -c '^\[exit 0\]$' "$work/shell.err")" -eq 3 ] || fail "three commands, not three '[exit 0]' lines"

if [ $failures -eq 0 ]; then echo "guest tools: all checks passed"; exit 0; fi
exit 1
