package credentials

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Ensure makes sure dataDir holds credentials for the admin user, every service and every
// agency in agencies, creating both files (mode 0600) when they are missing. It is idempotent:
// existing secrets are kept, agencies not yet present get new ones, revoked agencies are
// skipped, and a file is rewritten (atomically) only when its content changes.
//
// When both files know an agency, the plaintext file wins: it is written first, so it is the
// newer of the two if a previous run stopped in between. An agency or user known only by its
// hash (the plaintext file was deleted) keeps that hash, and the returned File lacks its
// secret. Agencies that are in the files but not in agencies are kept; use Revoke to remove one.
func Ensure(dataDir string, agencies []string) (*File, *Hashes, error) {
	for _, code := range agencies {
		if err := ValidateAgency(code); err != nil {
			return nil, nil, err
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("credentials: %w", err)
	}
	unlock, err := lock(dataDir)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()

	f, fileRaw, h, hashesRaw, err := readFiles(dataDir)
	if err != nil {
		return nil, nil, err
	}
	if err := ensureSecrets(f, h, agencies); err != nil {
		return nil, nil, err
	}
	if err := h.validate(); err != nil {
		return nil, nil, err
	}
	if err := writeJSONIfChanged(filepath.Join(dataDir, FileName), fileRaw, f); err != nil {
		return nil, nil, err
	}
	if err := writeJSONIfChanged(filepath.Join(dataDir, HashesFileName), hashesRaw, h); err != nil {
		return nil, nil, err
	}
	h.index()
	return f, h, nil
}

// readFiles reads both files of dataDir, either of which may be missing,
// and returns them with their raw bytes (to rewrite only what changed).
func readFiles(dataDir string) (f *File, fileRaw []byte, h *Hashes, hashesRaw []byte, err error) {
	f, h = &File{}, &Hashes{}
	fileRaw, err = readJSON(filepath.Join(dataDir, FileName), f)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, nil, err
	}
	hashesRaw, err = readJSON(filepath.Join(dataDir, HashesFileName), h)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, nil, err
	}
	if f.Agencies == nil {
		f.Agencies = make(map[string]AgencySecret)
	}
	if f.Services == nil {
		f.Services = make(map[string]NATSUser)
	}
	if h.Agencies == nil {
		h.Agencies = make(map[string]AgencyHash)
	}
	if h.Services == nil {
		h.Services = make(map[string]HashedUser)
	}
	h.normalize()
	return f, fileRaw, h, hashesRaw, nil
}

// ensureSecrets gives the admin, every service and every agency of
// agencies not revoked a secret and its hash, keeping those they have:
// the plaintext file wins where both know one.
func ensureSecrets(f *File, h *Hashes, agencies []string) error {
	if err := ensureUser(&f.Admin, &h.Admin, AdminUser); err != nil {
		return err
	}
	for _, s := range services {
		fu, hu := f.Services[s], h.Services[s]
		if err := ensureUser(&fu, &hu, ServiceUser(s)); err != nil {
			return err
		}
		f.Services[s], h.Services[s] = fu, hu
	}
	for code, secret := range f.Agencies {
		if h.IsRevoked(code) {
			delete(f.Agencies, code)
			continue
		}
		if cur, ok := h.Agencies[code]; ok && cur.HTTPTokenSHA256 == hashToken(secret.HTTPToken) {
			continue
		}
		ah, err := hashAgency(secret)
		if err != nil {
			return err
		}
		h.Agencies[code] = ah
	}
	for _, code := range agencies {
		if _, ok := h.Agencies[code]; ok || h.IsRevoked(code) {
			continue
		}
		secret, ah, err := newAgencySecret()
		if err != nil {
			return err
		}
		f.Agencies[code], h.Agencies[code] = secret, ah
	}
	return nil
}

// ensureUser fills in a non-agency user. A known plaintext password is (re)hashed when the
// stored hash does not match it; a hash without plaintext is kept as it is.
func ensureUser(fu *NATSUser, hu *HashedUser, name string) error {
	fu.User, hu.User = name, name
	switch {
	case fu.Password != "":
		if passwordMatches(hu.PasswordBcrypt, fu.Password) {
			return nil
		}
		nh, err := hashUser(*fu)
		if err != nil {
			return err
		}
		*hu = nh
	case hu.PasswordBcrypt != "":
	default:
		nu, nh, err := newUser(name)
		if err != nil {
			return err
		}
		*fu, *hu = nu, nh
	}
	return nil
}

// LoadHashes reads and checks dataDir/credentials.hashes.json.
// A missing file gives an error wrapping fs.ErrNotExist.
func LoadHashes(dataDir string) (*Hashes, error) {
	var h Hashes
	if _, err := readJSON(filepath.Join(dataDir, HashesFileName), &h); err != nil {
		return nil, err
	}
	h.normalize()
	if err := h.validate(); err != nil {
		return nil, err
	}
	h.index()
	return &h, nil
}

// LoadFile reads dataDir/credentials.json.
// A missing file gives an error wrapping fs.ErrNotExist.
func LoadFile(dataDir string) (*File, error) {
	var f File
	if _, err := readJSON(filepath.Join(dataDir, FileName), &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Add creates credentials for an agency that has none, or whose credentials
// were revoked, and returns them. It fails with ErrExists for an agency that
// has credentials (use Rotate to replace them). On a data directory without
// credentials it first creates the admin and service users (Ensure). Servers
// see the new agency after they reload the hashes (Live).
func Add(dataDir, agency string) (AgencySecret, error) {
	if err := ValidateAgency(agency); err != nil {
		return AgencySecret{}, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, HashesFileName)); errors.Is(err, fs.ErrNotExist) {
		if _, _, err := Ensure(dataDir, nil); err != nil {
			return AgencySecret{}, err
		}
	}
	unlock, err := lock(dataDir)
	if err != nil {
		return AgencySecret{}, err
	}
	defer unlock()
	h, _, err := loadHashesRaw(dataDir)
	if err != nil {
		return AgencySecret{}, err
	}
	if _, ok := h.Agencies[agency]; ok {
		return AgencySecret{}, fmt.Errorf("%w: %q", ErrExists, agency)
	}
	return replace(dataDir, agency)
}

// Rotate gives agency a new NATS password and HTTP token and returns them. It also
// reinstates a revoked agency. The plaintext file is updated only if it exists. Servers see
// the change after they reload the hashes (natsserver.Server.ReloadUsers).
func Rotate(dataDir, agency string) (AgencySecret, error) {
	if err := ValidateAgency(agency); err != nil {
		return AgencySecret{}, err
	}
	unlock, err := lock(dataDir)
	if err != nil {
		return AgencySecret{}, err
	}
	defer unlock()

	h, _, err := loadHashesRaw(dataDir)
	if err != nil {
		return AgencySecret{}, err
	}
	if _, ok := h.Agencies[agency]; !ok && !h.IsRevoked(agency) {
		return AgencySecret{}, fmt.Errorf("%w: %q", ErrUnknownAgency, agency)
	}
	return replace(dataDir, agency)
}

// replace gives agency new secrets in both files and takes it off the revoked
// list. The caller holds the lock.
func replace(dataDir, agency string) (AgencySecret, error) {
	h, hashesRaw, err := loadHashesRaw(dataDir)
	if err != nil {
		return AgencySecret{}, err
	}
	secret, ah, err := newAgencySecret()
	if err != nil {
		return AgencySecret{}, err
	}
	h.Agencies[agency] = ah
	h.Revoked = slices.DeleteFunc(h.Revoked, func(s string) bool { return s == agency })

	// Plaintext first: Ensure trusts it over the hashes if we stop in between.
	var f File
	fileRaw, err := readJSON(filepath.Join(dataDir, FileName), &f)
	switch {
	case err == nil:
		if f.Agencies == nil {
			f.Agencies = make(map[string]AgencySecret)
		}
		f.Agencies[agency] = secret
		if err := writeJSONIfChanged(filepath.Join(dataDir, FileName), fileRaw, &f); err != nil {
			return AgencySecret{}, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return AgencySecret{}, err
	}
	if err := writeJSONIfChanged(filepath.Join(dataDir, HashesFileName), hashesRaw, h); err != nil {
		return AgencySecret{}, err
	}
	return secret, nil
}

// Revoke removes agency's credentials from both files and records it as revoked, so that
// Ensure does not recreate them. Revoking a revoked agency does nothing. Servers see the change
// after they reload the hashes (natsserver.Server.ReloadUsers), which also closes the agency's
// open connections.
func Revoke(dataDir, agency string) error {
	if err := ValidateAgency(agency); err != nil {
		return err
	}
	unlock, err := lock(dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	h, hashesRaw, err := loadHashesRaw(dataDir)
	if err != nil {
		return err
	}
	var f File
	fileRaw, err := readJSON(filepath.Join(dataDir, FileName), &f)
	fileExists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_, inHashes := h.Agencies[agency]
	_, inFile := f.Agencies[agency]
	if !inHashes && !inFile {
		if h.IsRevoked(agency) {
			return nil
		}
		return fmt.Errorf("%w: %q", ErrUnknownAgency, agency)
	}
	delete(h.Agencies, agency)
	if i, found := slices.BinarySearch(h.Revoked, agency); !found {
		h.Revoked = slices.Insert(h.Revoked, i, agency)
	}
	// Hashes first: that is what makes the revocation effective.
	if err := writeJSONIfChanged(filepath.Join(dataDir, HashesFileName), hashesRaw, h); err != nil {
		return err
	}
	if fileExists && inFile {
		delete(f.Agencies, agency)
		if err := writeJSONIfChanged(filepath.Join(dataDir, FileName), fileRaw, &f); err != nil {
			return err
		}
	}
	return nil
}

func loadHashesRaw(dataDir string) (*Hashes, []byte, error) {
	var h Hashes
	raw, err := readJSON(filepath.Join(dataDir, HashesFileName), &h)
	if err != nil {
		return nil, nil, err
	}
	if h.Agencies == nil {
		h.Agencies = make(map[string]AgencyHash)
	}
	h.normalize()
	return &h, raw, nil
}

// readJSON decodes the file at path into v and returns its raw bytes.
func readJSON(path string, v any) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("credentials: decode %s: %w", path, err)
	}
	return raw, nil
}

// writeJSONIfChanged writes v to path unless old already holds exactly that encoding.
// The write goes to a temporary file in the same directory (mode 0600), is synced, and is
// renamed over path, so a reader sees either the old or the new content.
func writeJSONIfChanged(path string, old []byte, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("credentials: encode %s: %w", path, err)
	}
	b = append(b, '\n')
	if old != nil && bytes.Equal(old, b) {
		return nil
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("credentials: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("credentials: sync %s: %w", dir, err)
		}
	}
	return nil
}
