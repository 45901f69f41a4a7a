#!/bin/sh
# Installs what `make demo` and `make test` need on Debian: clickhouse-server
# and clickhouse-client (18.16.1 in bookworm). Go must already be installed.
set -eu

if ! command -v go >/dev/null 2>&1; then
	echo "ensure-deps: Go is not installed (https://go.dev/doc/install); cds needs Go 1.26" >&2
	exit 1
fi

have_server() {
	command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || [ -x /usr/bin/clickhouse ]
}

if have_server && command -v clickhouse-client >/dev/null 2>&1; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "ensure-deps: clickhouse-server is missing and I am not root (no sudo): run as root: apt-get install -y clickhouse-server clickhouse-client" >&2
		exit 1
	fi
fi

echo "ensure-deps: installing clickhouse-server and clickhouse-client with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
have_server || { echo "ensure-deps: clickhouse-server still not found after apt-get" >&2; exit 1; }
