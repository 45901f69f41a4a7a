package credentials

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultPollInterval is how often Live.Watch looks at the hashes file.
const DefaultPollInterval = 200 * time.Millisecond

// Live holds the Hashes of a data directory as they are on disk now. Every
// call of Hashes looks at credentials.hashes.json (one stat) and reloads it
// when it was replaced, so a revoked HTTP token fails from the next request
// on, in every process that reads the directory, without a signal or a
// restart. Watch tells a NATS server, which needs to be told. A file that
// cannot be loaded (a damaged hand edit) is logged and the last good hashes
// stay in force.
type Live struct {
	path string
	log  *slog.Logger

	mu    sync.Mutex
	h     *Hashes
	stamp os.FileInfo
	gen   uint64 // incremented on every reload
	err   error  // of the last failed reload, nil once one succeeds

	syncMu  sync.Mutex
	applied uint64 // the generation Sync last applied; 0 is what OpenLive loaded
}

// OpenLive loads dataDir/credentials.hashes.json. A nil logger discards.
func OpenLive(dataDir string, logger *slog.Logger) (*Live, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Live{path: filepath.Join(dataDir, HashesFileName), log: logger}
	st, err := os.Stat(l.path)
	if err != nil {
		return nil, err
	}
	h, err := LoadHashes(dataDir)
	if err != nil {
		return nil, err
	}
	l.h, l.stamp = h, st
	return l, nil
}

// Hashes returns the hashes in force, reloading them first if the file changed.
func (l *Live) Hashes() *Hashes {
	h, _ := l.refresh()
	return h
}

// CheckHTTPToken is Hashes().CheckHTTPToken: it sees changes at once.
func (l *Live) CheckHTTPToken(token string) (string, bool) {
	return l.Hashes().CheckHTTPToken(token)
}

// Err returns why the last reload failed, or nil.
func (l *Live) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// refresh reloads the file if it changed since the last look and returns
// the hashes in force and their generation.
func (l *Live) refresh() (*Hashes, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := os.Stat(l.path)
	if err != nil || sameFile(st, l.stamp) {
		return l.h, l.gen
	}
	h, err := LoadHashes(filepath.Dir(l.path))
	if err != nil {
		if l.err == nil || l.err.Error() != err.Error() {
			l.log.Error("credentials not reloaded: the previous ones stay in force", "path", l.path, "err", err)
		}
		l.err = err
		return l.h, l.gen
	}
	l.h, l.stamp, l.err = h, st, nil
	l.gen++
	l.log.Info("credentials reloaded", "agencies", len(h.Agencies), "revoked", len(h.Revoked))
	return l.h, l.gen
}

// sameFile reports whether a and b describe the same version of a file.
// Every write replaces the file by a rename, which gives a new inode; size
// and modification time guard against the reuse of an inode number.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Sync reloads the file if it changed and, if the hashes in force are newer
// than those Sync last applied (or than those OpenLive loaded, on the first
// call), calls apply with them. It reports whether it called apply. Calls
// are serialised, so apply never runs twice at once. A generation whose
// apply failed is not applied again; the next change is.
func (l *Live) Sync(apply func(*Hashes) error) (bool, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	h, gen := l.refresh()
	if gen == l.applied {
		return false, nil
	}
	l.applied = gen
	return true, apply(h)
}

// Watch calls Sync every interval (DefaultPollInterval if 0) until ctx ends,
// then returns nil; errors of apply are logged. Start the server that apply
// updates with Live.Hashes right after OpenLive, so that no change can fall
// between its start and Watch.
func (l *Live) Watch(ctx context.Context, interval time.Duration, apply func(*Hashes) error) error {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := l.Sync(apply); err != nil {
			l.log.Error("applying reloaded credentials", "err", err)
		}
	}
}
