#!/usr/bin/env bash
# Builds HashiCorp's Kubernetes auth method as an external Vault plugin into
# a plugin folder beside the cached vault binary, once; later runs find it and
# return at once. The vault binary from install-vault.sh is built with
# -tags minimal, which leaves the Kubernetes auth method out; the Vault tests
# start the dev server with -dev-plugin-dir set to this folder and register
# the plugin in its catalog (providers/vault_auth_test.go).
#
#   scripts/install-vault-k8s-plugin.sh   # prints the plugin folder
#
# v0.23.1 is the version vault v1.21.1 itself ships, built on the published
# vault/sdk v0.20.0 and vault/api v1.22.0, so its go.mod needs no replaces
# and `go install pkg@version` builds it as released.
set -euo pipefail

VAULT_VERSION=v1.21.1
PLUGIN_VERSION=v0.23.1
NAME=vault-plugin-auth-kubernetes
DEST=${VAULT_BIN_DIR:-"${XDG_CACHE_HOME:-$HOME/.cache}/airlock/vault-${VAULT_VERSION}"}/plugins
STAMP="$DEST/../$NAME.version"
mkdir -p "$DEST"

if [ -x "$DEST/$NAME" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PLUGIN_VERSION" ]; then
  echo "$DEST"; exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "building $NAME $PLUGIN_VERSION into $DEST (first time only: a few minutes)" >&2
GOBIN="$WORK" GOWORK=off CGO_ENABLED=0 GOFLAGS= go install -trimpath -ldflags "-s -w" \
  "github.com/hashicorp/$NAME/cmd/$NAME@$PLUGIN_VERSION"
mv "$WORK/$NAME" "$DEST/$NAME"
echo "$PLUGIN_VERSION" > "$STAMP"
echo "$DEST"
