package chserver

import "syscall"

// dieWithParent asks the kernel to send SIGTERM to the child when cds dies
// without closing it, so a crashed cds leaves no orphaned server behind.
func dieWithParent(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGTERM
}
