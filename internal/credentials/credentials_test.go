package credentials

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func mustEnsure(tb testing.TB, dir string, agencies ...string) (*File, *Hashes) {
	tb.Helper()
	f, h, err := Ensure(dir, agencies)
	if err != nil {
		tb.Fatalf("Ensure(%v): %v", agencies, err)
	}
	return f, h
}

func readRaw(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestEnsureCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	f, h := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")

	for _, name := range []string{FileName, HashesFileName} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %o, want 600", name, got)
		}
	}

	// The contract shape of credentials.json (docs/design.md, "Credentials").
	var raw struct {
		Agencies map[string]map[string]string `json:"agencies"`
		Admin    map[string]string            `json:"admin"`
	}
	if err := json.Unmarshal(readRaw(t, filepath.Join(dir, FileName)), &raw); err != nil {
		t.Fatal(err)
	}
	if got := raw.Agencies["bg-vietyen"]; got["nats_password"] == "" || got["http_token"] == "" || len(got) != 2 {
		t.Errorf("agencies[bg-vietyen] = %v, want nats_password and http_token", got)
	}
	if raw.Admin["nats_user"] != AdminUser || raw.Admin["nats_password"] == "" {
		t.Errorf("admin = %v", raw.Admin)
	}

	if got := f.Services[ServiceProjector].User; got != "cds-projector" {
		t.Errorf("projector user = %q", got)
	}
	if got := f.Services[ServiceAPI].User; got != "cds-api" {
		t.Errorf("api user = %q", got)
	}
	if len(f.Agencies["bg-vietyen"].NATSPassword) != 43 {
		t.Errorf("password %q is not 32 base64url bytes", f.Agencies["bg-vietyen"].NATSPassword)
	}

	// The hashes match the plaintext, and the hashes file holds no plaintext.
	hashesRaw := string(readRaw(t, filepath.Join(dir, HashesFileName)))
	for code, s := range f.Agencies {
		a := h.Agencies[code]
		if err := bcrypt.CompareHashAndPassword([]byte(a.NATSPasswordBcrypt), []byte(s.NATSPassword)); err != nil {
			t.Errorf("%s: bcrypt does not match: %v", code, err)
		}
		if cost, _ := bcrypt.Cost([]byte(a.NATSPasswordBcrypt)); cost != BcryptCost {
			t.Errorf("%s: bcrypt cost %d, want %d", code, cost, BcryptCost)
		}
		if a.HTTPTokenSHA256 != hashToken(s.HTTPToken) {
			t.Errorf("%s: token digest does not match", code)
		}
		for _, secret := range []string{s.NATSPassword, s.HTTPToken} {
			if strings.Contains(hashesRaw, secret) {
				t.Errorf("hashes file contains a plaintext secret of %s", code)
			}
		}
	}
	for name, u := range f.Services {
		if !passwordMatches(h.Services[name].PasswordBcrypt, u.Password) {
			t.Errorf("service %s: bcrypt does not match", name)
		}
	}
	if !passwordMatches(h.Admin.PasswordBcrypt, f.Admin.Password) {
		t.Error("admin: bcrypt does not match")
	}
}

func TestEnsureIdempotentAndAdds(t *testing.T) {
	dir := t.TempDir()
	f1, _ := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	fileBefore := readRaw(t, filepath.Join(dir, FileName))
	hashesBefore := readRaw(t, filepath.Join(dir, HashesFileName))
	stBefore, _ := os.Stat(filepath.Join(dir, HashesFileName))

	f2, _ := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	if got := readRaw(t, filepath.Join(dir, FileName)); string(got) != string(fileBefore) {
		t.Error("second Ensure changed credentials.json")
	}
	if got := readRaw(t, filepath.Join(dir, HashesFileName)); string(got) != string(hashesBefore) {
		t.Error("second Ensure changed credentials.hashes.json")
	}
	if st, _ := os.Stat(filepath.Join(dir, HashesFileName)); !os.SameFile(st, stBefore) {
		t.Error("second Ensure rewrote credentials.hashes.json")
	}
	if !maps.Equal(f1.Agencies, f2.Agencies) || f1.Admin != f2.Admin || !maps.Equal(f1.Services, f2.Services) {
		t.Error("second Ensure returned different secrets")
	}

	f3, h3 := mustEnsure(t, dir, "bg-vietyen", "bg-yenthe")
	for code, s := range f1.Agencies {
		if f3.Agencies[code] != s {
			t.Errorf("%s: secret changed after adding an agency", code)
		}
	}
	if _, ok := f3.Agencies["bg-yenthe"]; !ok {
		t.Error("bg-yenthe was not added")
	}
	if f3.Admin != f1.Admin || !maps.Equal(f3.Services, f1.Services) {
		t.Error("admin or service secrets changed")
	}
	loaded, err := LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(loaded.Agencies, h3.Agencies) || len(loaded.Agencies) != 3 {
		t.Errorf("LoadHashes = %v, want %v", loaded.Agencies, h3.Agencies)
	}
	lf, err := LoadFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(lf.Agencies, f3.Agencies) {
		t.Error("LoadFile differs from what Ensure returned")
	}
}

func TestEnsureRepairsHashesFromPlaintext(t *testing.T) {
	dir := t.TempDir()
	f1, _ := mustEnsure(t, dir, "bg-vietyen")
	if err := os.Remove(filepath.Join(dir, HashesFileName)); err != nil {
		t.Fatal(err)
	}
	f2, h2 := mustEnsure(t, dir, "bg-vietyen")
	if f2.Agencies["bg-vietyen"] != f1.Agencies["bg-vietyen"] || f2.Admin != f1.Admin {
		t.Fatal("secrets changed when only the hashes file was missing")
	}
	if got, ok := h2.CheckHTTPToken(f1.Agencies["bg-vietyen"].HTTPToken); !ok || got != "bg-vietyen" {
		t.Errorf("CheckHTTPToken after repair = %q, %v", got, ok)
	}
	if !passwordMatches(h2.Admin.PasswordBcrypt, f1.Admin.Password) {
		t.Error("admin hash not rebuilt from plaintext")
	}
}

func TestEnsureRejectsBadCodes(t *testing.T) {
	for _, code := range []string{"", "BG", "bg.vietyen", "bg_x", "bg-*", AdminUser, "cds-projector", "cds-api",
		"a123456789012345678901234567890123456789012345678"} {
		t.Run(code, func(t *testing.T) {
			_, _, err := Ensure(t.TempDir(), []string{code})
			if !errors.Is(err, ErrInvalidAgency) {
				t.Errorf("Ensure(%q) error = %v, want ErrInvalidAgency", code, err)
			}
		})
	}
}

func TestCheckHTTPToken(t *testing.T) {
	dir := t.TempDir()
	f, h := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	loaded, err := LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A Hashes built by hand has no index and falls back to a scan.
	byHand := &Hashes{Agencies: maps.Clone(h.Agencies), Admin: h.Admin, Services: h.Services}

	tests := []struct {
		name       string
		token      string
		wantAgency string
		wantOK     bool
	}{
		{"vietyen", f.Agencies["bg-vietyen"].HTTPToken, "bg-vietyen", true},
		{"ctk", f.Agencies["bg-ctk"].HTTPToken, "bg-ctk", true},
		{"empty", "", "", false},
		{"nats password is not a token", f.Agencies["bg-vietyen"].NATSPassword, "", false},
		{"admin password", f.Admin.Password, "", false},
		{"truncated", f.Agencies["bg-ctk"].HTTPToken[:42], "", false},
		{"garbage", "Bearer x", "", false},
	}
	for _, hs := range []struct {
		name string
		h    *Hashes
	}{{"ensure", h}, {"load", loaded}, {"by hand", byHand}} {
		for _, tt := range tests {
			t.Run(hs.name+"/"+tt.name, func(t *testing.T) {
				got, ok := hs.h.CheckHTTPToken(tt.token)
				if got != tt.wantAgency || ok != tt.wantOK {
					t.Errorf("CheckHTTPToken = %q, %v; want %q, %v", got, ok, tt.wantAgency, tt.wantOK)
				}
			})
		}
	}
	var nilHashes *Hashes
	if _, ok := nilHashes.CheckHTTPToken("x"); ok {
		t.Error("nil Hashes accepted a token")
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	f1, _ := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	old := f1.Agencies["bg-vietyen"]

	s, err := Rotate(dir, "bg-vietyen")
	if err != nil {
		t.Fatal(err)
	}
	if s == old || s.NATSPassword == old.NATSPassword || s.HTTPToken == old.HTTPToken {
		t.Fatal("Rotate did not change the secrets")
	}
	h, err := LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.CheckHTTPToken(old.HTTPToken); ok {
		t.Error("old token still accepted")
	}
	if got, ok := h.CheckHTTPToken(s.HTTPToken); !ok || got != "bg-vietyen" {
		t.Error("new token not accepted")
	}
	if !passwordMatches(h.Agencies["bg-vietyen"].NATSPasswordBcrypt, s.NATSPassword) {
		t.Error("new password hash does not match")
	}
	f2, err := LoadFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f2.Agencies["bg-vietyen"] != s {
		t.Error("credentials.json not updated")
	}
	if f2.Agencies["bg-ctk"] != f1.Agencies["bg-ctk"] {
		t.Error("another agency's secret changed")
	}
	// Ensure keeps the rotated secret.
	f3, _ := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	if f3.Agencies["bg-vietyen"] != s {
		t.Error("Ensure after Rotate changed the secret")
	}

	if _, err := Rotate(dir, "bg-nowhere"); !errors.Is(err, ErrUnknownAgency) {
		t.Errorf("Rotate(unknown) error = %v, want ErrUnknownAgency", err)
	}
	if _, err := Rotate(t.TempDir(), "bg-vietyen"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rotate without files error = %v, want fs.ErrNotExist", err)
	}
}

func TestRevoke(t *testing.T) {
	dir := t.TempDir()
	f1, _ := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")

	if err := Revoke(dir, "bg-vietyen"); err != nil {
		t.Fatal(err)
	}
	if err := Revoke(dir, "bg-vietyen"); err != nil {
		t.Errorf("second Revoke: %v", err)
	}
	h, err := LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Agencies["bg-vietyen"]; ok || !h.IsRevoked("bg-vietyen") {
		t.Errorf("after Revoke: agencies=%v revoked=%v", h.Agencies, h.Revoked)
	}
	if _, ok := h.CheckHTTPToken(f1.Agencies["bg-vietyen"].HTTPToken); ok {
		t.Error("revoked token accepted")
	}
	f, err := LoadFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Agencies["bg-vietyen"]; ok {
		t.Error("revoked agency still in credentials.json")
	}

	// Ensure does not bring it back.
	f2, h2 := mustEnsure(t, dir, "bg-vietyen", "bg-ctk")
	if _, ok := f2.Agencies["bg-vietyen"]; ok {
		t.Error("Ensure recreated a revoked agency")
	}
	if _, ok := h2.Agencies["bg-vietyen"]; ok {
		t.Error("Ensure recreated a revoked agency's hash")
	}
	if f2.Agencies["bg-ctk"] != f1.Agencies["bg-ctk"] {
		t.Error("Revoke changed another agency")
	}

	// Rotate reinstates it.
	s, err := Rotate(dir, "bg-vietyen")
	if err != nil {
		t.Fatal(err)
	}
	h3, err := LoadHashes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h3.IsRevoked("bg-vietyen") {
		t.Error("still revoked after Rotate")
	}
	if got, ok := h3.CheckHTTPToken(s.HTTPToken); !ok || got != "bg-vietyen" {
		t.Error("reinstated token not accepted")
	}

	if err := Revoke(dir, "bg-nowhere"); !errors.Is(err, ErrUnknownAgency) {
		t.Errorf("Revoke(unknown) error = %v, want ErrUnknownAgency", err)
	}
}

func TestLoadHashesRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	mustEnsure(t, dir, "bg-vietyen")
	if _, err := LoadHashes(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error = %v, want fs.ErrNotExist", err)
	}
	path := filepath.Join(dir, HashesFileName)
	var h Hashes
	if err := json.Unmarshal(readRaw(t, path), &h); err != nil {
		t.Fatal(err)
	}
	a := h.Agencies["bg-vietyen"]
	a.NATSPasswordBcrypt = "plaintext"
	h.Agencies["bg-vietyen"] = a
	b, _ := json.Marshal(h)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHashes(dir); err == nil {
		t.Error("LoadHashes accepted a non-bcrypt password")
	}
}

// BenchmarkBcryptCompare measures what one NATS login costs the server at several bcrypt
// costs (see BcryptCost): go test -run x -bench BcryptCompare ./credentials/
func BenchmarkBcryptCompare(b *testing.B) {
	pw, err := newSecret()
	if err != nil {
		b.Fatal(err)
	}
	for _, cost := range []int{BcryptCost, 6, 8, 10} {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			for b.Loop() {
				if err := bcrypt.CompareHashAndPassword(h, []byte(pw)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
