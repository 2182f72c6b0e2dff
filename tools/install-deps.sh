#!/usr/bin/env bash
# Installs the Debian 12 packages readerlab needs, only those missing. Idempotent.
#   tools/install-deps.sh [build|guest|windows|all]   (default: all)
set -euo pipefail

build_packages=(g++ cmake make pkg-config libusbredirparser-dev libboost-dev liblua5.4-dev libcli11-dev
                doctest-dev nlohmann-json3-dev libpcsclite-dev libbenchmark-dev gcovr
                python3 clang-format  # tools/check_layers.py, tools/check_format.sh
                clang libclang-rt-14-dev libfuzzer-14-dev  # these three: fuzz/ (libFuzzer)
                tshark)  # the trace test decodes a reader's pcap (tests/emulator/trace)
# The guest is assembled from these installed packages; QEMU runs it.
guest_packages=(qemu-system-x86 linux-image-amd64 busybox-static pcscd libccid udev cpio gzip
                pcsc-tools   # guest build --with pcsc-tools (scriptor, pcsc_scan) in the guest tests
                libnss3-tools)  # certutil: the NSS database of QEMU's emulated card (bench_peer)
# The Windows side: the cross builds (readerlab-agent.exe, readerlab_reference_rdf.sys), the
# agent's tests under Wine, and the Windows guest's machine (qemu-img, OVMF) with the tests'
# stand-in image (syslinux on a FAT disk).
windows_packages=(g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev
                  wine64
                  qemu-utils ovmf
                  syslinux syslinux-common mtools dosfstools)

case "${1:-all}" in
  build) wanted=("${build_packages[@]}") ;;
  guest) wanted=("${guest_packages[@]}") ;;
  windows) wanted=("${windows_packages[@]}") ;;
  all) wanted=("${build_packages[@]}" "${guest_packages[@]}" "${windows_packages[@]}") ;;
  *) echo "usage: $0 [build|guest|windows|all]" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "readerlab needs these Debian packages: ${missing[*]}" >&2
  echo "run as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
# wireshark-common (under tshark) asks whether non-superusers may capture: keep its default, ask nothing.
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
