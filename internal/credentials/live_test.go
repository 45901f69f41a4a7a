package credentials

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAdd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fresh")
	// On an empty directory Add creates the operator and service users too.
	s, err := Add(dir, "bg-vietyen")
	if err != nil {
		t.Fatal(err)
	}
	h, err := LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := h.CheckHTTPToken(s.HTTPToken); !ok || got != "bg-vietyen" {
		t.Errorf("token of the added agency: %q %v", got, ok)
	}
	if !passwordMatches(h.Agencies["bg-vietyen"].NATSPasswordBcrypt, s.NATSPassword) || h.Admin.User != AdminUser || len(h.Services) != len(services) {
		t.Errorf("hashes after Add = %+v", h)
	}
	f, err := LoadFile(dir)
	if err != nil || f.Agencies["bg-vietyen"] != s {
		t.Errorf("credentials.json after Add: %v %+v", err, f)
	}

	if _, err := Add(dir, "bg-vietyen"); !errors.Is(err, ErrExists) {
		t.Errorf("second Add error = %v, want ErrExists", err)
	}
	if _, err := Add(dir, "cds-api"); !errors.Is(err, ErrInvalidAgency) {
		t.Errorf("Add(cds-api) error = %v, want ErrInvalidAgency", err)
	}

	// A revoked agency can be added again, with new secrets.
	if err := Revoke(dir, "bg-vietyen"); err != nil {
		t.Fatal(err)
	}
	back, err := Add(dir, "bg-vietyen")
	if err != nil {
		t.Fatal(err)
	}
	h, _ = LoadHashes(dir)
	if back == s || h.IsRevoked("bg-vietyen") {
		t.Error("Add of a revoked agency did not reinstate it with new secrets")
	}
	if _, ok := h.CheckHTTPToken(s.HTTPToken); ok {
		t.Error("the revoked token works again")
	}
}

func mustLive(tb testing.TB, dir string) *Live {
	tb.Helper()
	l, err := OpenLive(dir, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestLiveSeesChangesAtOnce(t *testing.T) {
	dir := t.TempDir()
	f, _ := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	l := mustLive(t, dir)
	vy := f.Agencies["bg-vietyen"].HTTPToken
	if got, ok := l.CheckHTTPToken(vy); !ok || got != "bg-vietyen" {
		t.Fatalf("CheckHTTPToken = %q %v", got, ok)
	}

	if err := Revoke(dir, "bg-vietyen"); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.CheckHTTPToken(vy); ok {
		t.Error("revoked token accepted by the next check")
	}
	if _, ok := l.CheckHTTPToken(f.Agencies["bg-ctk"].HTTPToken); !ok {
		t.Error("another agency's token refused")
	}

	s, err := Rotate(dir, "bg-ctk")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.CheckHTTPToken(f.Agencies["bg-ctk"].HTTPToken); ok {
		t.Error("rotated-out token accepted")
	}
	if got, ok := l.CheckHTTPToken(s.HTTPToken); !ok || got != "bg-ctk" {
		t.Error("new token refused")
	}

	added, err := Add(dir, "bg-yenthe")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := l.CheckHTTPToken(added.HTTPToken); !ok || got != "bg-yenthe" {
		t.Error("added agency's token refused")
	}
}

func TestLiveKeepsLastGoodOnDamage(t *testing.T) {
	dir := t.TempDir()
	f, _ := mustEnsure(t, dir, "bg-vietyen")
	l := mustLive(t, dir)
	path := filepath.Join(dir, HashesFileName)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, []byte(`{"agencies": {`))
	if _, ok := l.CheckHTTPToken(f.Agencies["bg-vietyen"].HTTPToken); !ok {
		t.Error("a damaged file dropped the credentials in force")
	}
	if l.Err() == nil {
		t.Error("Err is nil after a failed reload")
	}
	replaceFile(t, path, good)
	if _, ok := l.CheckHTTPToken(f.Agencies["bg-vietyen"].HTTPToken); !ok || l.Err() != nil {
		t.Errorf("after repair: err %v", l.Err())
	}
	if _, err := OpenLive(t.TempDir(), nil); err == nil {
		t.Error("OpenLive of a directory without credentials succeeded")
	}
}

// replaceFile writes b to path the way the store does: a new file renamed over the old.
func replaceFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

func TestLiveWatch(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	l := mustLive(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	applied := make(chan *Hashes, 16)
	done := make(chan error, 1)
	go func() {
		done <- l.Watch(ctx, 5*time.Millisecond, func(h *Hashes) error {
			applied <- h
			return errors.New("the callback's error is only logged")
		})
	}()
	for _, change := range []struct {
		name string
		do   func() error
		ok   func(*Hashes) bool
	}{
		{"revoke", func() error { return Revoke(dir, "bg-vietyen") }, func(h *Hashes) bool { return h.IsRevoked("bg-vietyen") }},
		{"add", func() error { _, err := Add(dir, "bg-yenthe"); return err }, func(h *Hashes) bool { _, ok := h.Agencies["bg-yenthe"]; return ok }},
	} {
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		select {
		case h := <-applied:
			if !change.ok(h) {
				t.Errorf("%s: applied hashes do not show the change", change.name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not applied", change.name)
		}
	}
	// A change seen first by Hashes (an HTTP request) is applied too.
	if err := Revoke(dir, "bg-ctk"); err != nil {
		t.Fatal(err)
	}
	if !l.Hashes().IsRevoked("bg-ctk") {
		t.Fatal("Hashes does not show the revocation")
	}
	select {
	case h := <-applied:
		if !h.IsRevoked("bg-ctk") {
			t.Error("applied hashes do not show the revocation")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a change seen by Hashes was not applied")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch = %v after cancel", err)
	}
}

// TestChangesWaitForOtherProcesses: a change waits while another process
// (here another open file description of the lock file) holds the lock.
func TestChangesWaitForOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, "bg-vietyen")
	other, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := lockFile(other); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Rotate(dir, "bg-vietyen"); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Rotate finished while another process held the lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := unlockFile(other); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Rotate did not finish after the lock was released")
	}
}

func TestLiveSync(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, "bg-vietyen")
	l := mustLive(t, dir)
	var got []*Hashes
	apply := func(h *Hashes) error { got = append(got, h); return nil }
	if changed, err := l.Sync(apply); changed || err != nil || len(got) != 0 {
		t.Fatalf("Sync without a change = %v, %v", changed, err)
	}
	if err := Revoke(dir, "bg-vietyen"); err != nil {
		t.Fatal(err)
	}
	if changed, err := l.Sync(apply); !changed || err != nil || len(got) != 1 || !got[0].IsRevoked("bg-vietyen") {
		t.Fatalf("Sync after revoke = %v, %v, applied %d", changed, err, len(got))
	}
	if changed, _ := l.Sync(apply); changed {
		t.Error("the same generation applied twice")
	}
	if _, err := Add(dir, "bg-ctk"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if changed, err := l.Sync(func(*Hashes) error { return boom }); !changed || !errors.Is(err, boom) {
		t.Errorf("Sync with a failing apply = %v, %v", changed, err)
	}
}
