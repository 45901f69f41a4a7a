// Command cds runs the parts of cds: see "cds help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// main turns signals into a cancelled context, runs the command, and exits
// non-zero with its error once everything it started has been closed.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cds:", err)
		os.Exit(1)
	}
}
