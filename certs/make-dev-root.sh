#!/usr/bin/env bash
# Makes a development root CA for the mesh: root.crt (public) and root.key (private, mode 0600).
# The control plane takes it on first start with --root-cert and --root-key and copies it into its
# data dir; after that the data dir's copy is the mesh's root. Never commit root.key (.gitignore).
#
#   bash certs/make-dev-root.sh [out-dir] [days]      default: certs/dev, 3650 days
set -euo pipefail
out=${1:-"$(dirname "$0")/dev"}
days=${2:-3650}
command -v openssl >/dev/null || { echo "make-dev-root: openssl is needed (apt-get install -y openssl)" >&2; exit 1; }
mkdir -p "$out"
if [[ -e "$out/root.key" ]]; then
  echo "make-dev-root: $out/root.key exists; remove it first to make a new root (every workload certificate would change)" >&2
  exit 1
fi
umask 077
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$out/root.key"
openssl req -x509 -new -key "$out/root.key" -sha256 -days "$days" -subj "/O=Mesh/CN=Mesh Dev Root CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" -out "$out/root.crt"
chmod 644 "$out/root.crt"
echo "root CA: $out/root.crt (key $out/root.key)"
echo "start the control plane with: --root-cert $out/root.crt --root-key $out/root.key"
echo "and give sidecars --ca-cert $out/root.crt to trust it without pinning on first use"
