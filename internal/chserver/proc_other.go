//go:build !unix

package chserver

import (
	"errors"
	"os/exec"
	"syscall"
)

var errUnsupported = errors.New("managed clickhouse-server needs a Unix system")

func detach(*exec.Cmd) {}

func signalGroup(int, syscall.Signal) error { return errUnsupported }

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)
