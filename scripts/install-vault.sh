#!/usr/bin/env bash
# Builds a real HashiCorp Vault server from the Go module proxy (Vault is not
# in Debian and no binary download is possible here) into a cache folder
# outside the checkout, once; later runs find it and return at once.
#
#   scripts/install-vault.sh            # prints the path of the vault binary
#
# Facts this relies on: vault v1.21.1 is the last 1.21.x whose code matches a
# published vault/sdk (v0.20.0); its own go.mod replaces sdk/api with in-tree
# modules that are not in the module zip, so we pin the published ones and
# copy its two other replaces. -tags minimal keeps token, AppRole, userpass,
# cert and JWT/OIDC auth and KV, and halves the cold build (~6 min, ~3 GB).
set -euo pipefail

VAULT_VERSION=v1.21.1
SDK_VERSION=v0.20.0
API_VERSION=v1.22.0
DEST=${VAULT_BIN_DIR:-"${XDG_CACHE_HOME:-$HOME/.cache}/airlock/vault-${VAULT_VERSION}"}
mkdir -p "$DEST"
BIN="$DEST/vault"

if [ -x "$BIN" ] && "$BIN" version 2>/dev/null | grep -q "^Vault ${VAULT_VERSION}"; then
  echo "$BIN"; exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/go.mod" <<MOD
module vaultbuild

go 1.25.3

require github.com/hashicorp/vault ${VAULT_VERSION}

replace github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk ${SDK_VERSION}

replace github.com/hashicorp/vault/api => github.com/hashicorp/vault/api ${API_VERSION}

replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
MOD
echo "building vault ${VAULT_VERSION} into $DEST (first time only: several minutes)" >&2
(cd "$WORK" && GOWORK=off CGO_ENABLED=0 GOFLAGS= go build -mod=mod -tags minimal -trimpath \
  -ldflags "-s -w" -o "$BIN.tmp" github.com/hashicorp/vault)
mv "$BIN.tmp" "$BIN"
echo "$BIN"
