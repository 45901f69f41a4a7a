//go:build !unix

package credentials

import "os"

// Elsewhere changes are serialised within one process only.
func lockFile(*os.File) error   { return nil }
func unlockFile(*os.File) error { return nil }
