package credentials

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// lockFileName is the file whose lock serialises changes between processes.
const lockFileName = ".credentials.lock"

// mu serialises changes within a process; the lock file, between processes
// (cds agency run while a server starts and calls Ensure, or two operators
// at once).
var mu sync.Mutex

// lock takes the change lock of dataDir and returns its release. A missing
// dataDir is not an error: there is nothing to protect yet, and the caller
// reports what is missing.
func lock(dataDir string) (func(), error) {
	mu.Lock()
	f, err := os.OpenFile(filepath.Join(dataDir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return mu.Unlock, nil
	}
	if err != nil {
		mu.Unlock()
		return nil, fmt.Errorf("credentials: lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		mu.Unlock()
		return nil, fmt.Errorf("credentials: lock %s: %w", f.Name(), err)
	}
	return func() {
		_ = unlockFile(f)
		f.Close()
		mu.Unlock()
	}, nil
}
