#!/bin/sh
# Installs what `make demo` and `make test` need on Debian: clickhouse-server
# and clickhouse-client (18.16.1 in bookworm), chromium, which the board's
# tests drive headless (internal/board), and zookeeper (3.8 in bookworm),
# which replicated ClickHouse needs (the replica tests start one:
# internal/zktest). Go must already be installed.
set -eu

if ! command -v go >/dev/null 2>&1; then
	echo "ensure-deps: Go is not installed (https://go.dev/doc/install); cds needs Go 1.26" >&2
	exit 1
fi

have_server() {
	command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || [ -x /usr/bin/clickhouse ]
}

missing=""
if ! have_server || ! command -v clickhouse-client >/dev/null 2>&1; then
	missing="clickhouse-server clickhouse-client"
fi
if ! command -v chromium >/dev/null 2>&1; then
	missing="$missing chromium"
fi
have_zookeeper() {
	[ -f /usr/share/java/zookeeper.jar ]
}
if ! have_zookeeper; then
	missing="$missing zookeeper"
fi
if [ -z "$missing" ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "ensure-deps:$missing missing and I am not root (no sudo): run as root: apt-get install -y$missing" >&2
		exit 1
	fi
fi

echo "ensure-deps: installing$missing with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # the list is words
$SUDO apt-get install -y -qq $missing >/dev/null
have_server || { echo "ensure-deps: clickhouse-server still not found after apt-get" >&2; exit 1; }
command -v chromium >/dev/null 2>&1 || { echo "ensure-deps: chromium still not found after apt-get" >&2; exit 1; }
have_zookeeper || { echo "ensure-deps: zookeeper still not found after apt-get (/usr/share/java/zookeeper.jar)" >&2; exit 1; }
