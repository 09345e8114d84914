#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs the Debian 12 packages vtpm needs to build, test, demo and package.
# Runs as root with apt-get; does nothing when everything is present.
set -euo pipefail
pkgs=(
  build-essential clang llvm libclang-rt-14-dev pkg-config
  libtpms-dev libssl-dev libseccomp-dev libcmocka-dev libtss2-dev libsqlite3-dev
  swtpm swtpm-tools tpm2-tools
  qemu-system-x86 linux-image-amd64 busybox-static cpio
  iproute2 procps psmisc python3 xxd sqlite3 openssl util-linux
  debhelper dpkg-dev fakeroot
  # vtpm-xenback (libxengnttab, libxenevtchn, libxenstore). The Xen
  # hypervisor and tools its test boots under QEMU are not installed: they
  # would make this machine's bootloader boot Xen. test_xen_guest.sh fetches
  # their .debs with apt-get download and unpacks them in its own directory.
  libxen-dev
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
