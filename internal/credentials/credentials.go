// Package credentials creates, stores and checks the NATS and HTTP secrets of agencies, operators and services.
//
// Two files live in the data directory. credentials.json holds the plaintext secrets handed
// to agencies in development mode; credentials.hashes.json holds only bcrypt hashes of NATS
// passwords and SHA-256 digests of HTTP tokens, and is all a server needs to load.
package credentials

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// File names inside the data directory.
const (
	FileName       = "credentials.json"
	HashesFileName = "credentials.hashes.json"
)

// NATS user names that are not agencies.
const (
	AdminUser = "admin"

	// ServiceProjector and ServiceAPI are the keys of File.Services and Hashes.Services.
	ServiceProjector = "projector"
	ServiceAPI       = "api"
)

// services lists every service that Ensure creates a NATS user for.
var services = [...]string{ServiceProjector, ServiceAPI}

// ServiceUser returns the NATS user name of a service, e.g. "cds-projector".
func ServiceUser(service string) string { return "cds-" + service }

var (
	// ErrInvalidAgency is returned by Ensure, Rotate and Revoke for an agency code that is not
	// [a-z0-9-]{1,48} or that collides with an operator or service user name.
	ErrInvalidAgency = errors.New("credentials: invalid agency code")
	// ErrUnknownAgency is returned by Rotate and Revoke for an agency that has no credentials.
	ErrUnknownAgency = errors.New("credentials: unknown agency")
	// ErrExists is returned by Add for an agency that already has credentials.
	ErrExists = errors.New("credentials: agency already has credentials")
)

// File is the content of credentials.json: plaintext secrets. The shape of "agencies" and
// "admin" is part of the cds contract; "services" is an addition.
type File struct {
	Agencies map[string]AgencySecret `json:"agencies"`
	Admin    NATSUser                `json:"admin"`
	Services map[string]NATSUser     `json:"services,omitempty"`
}

// AgencySecret is what an agency needs to publish: its NATS password (user = agency code)
// and its HTTP bearer token.
type AgencySecret struct {
	NATSPassword string `json:"nats_password"`
	HTTPToken    string `json:"http_token"`
}

// NATSUser is a NATS user name and its plaintext password.
type NATSUser struct {
	User     string `json:"nats_user"`
	Password string `json:"nats_password"`
}

// Hashes is the content of credentials.hashes.json: what servers load.
// Treat a Hashes as read-only once loaded; load a fresh one to see changes.
type Hashes struct {
	Agencies map[string]AgencyHash `json:"agencies"`
	Admin    HashedUser            `json:"admin"`
	Services map[string]HashedUser `json:"services"`
	// Revoked lists agencies whose credentials were revoked, sorted. Ensure does not
	// recreate credentials for them; Rotate reinstates one.
	Revoked []string `json:"revoked,omitempty"`

	// byToken maps the SHA-256 of an HTTP token to its agency. It is built by LoadHashes
	// and Ensure; a Hashes built by hand falls back to a linear scan.
	byToken map[[sha256.Size]byte]string
}

// AgencyHash is the server-side form of an AgencySecret.
type AgencyHash struct {
	NATSPasswordBcrypt string `json:"nats_password_bcrypt"`
	HTTPTokenSHA256    string `json:"http_token_sha256"` // lower-case hex
}

// HashedUser is the server-side form of a NATSUser.
type HashedUser struct {
	User           string `json:"nats_user"`
	PasswordBcrypt string `json:"nats_password_bcrypt"`
}

// normalize sorts and deduplicates Revoked, in case the file was edited by hand.
func (h *Hashes) normalize() {
	slices.Sort(h.Revoked)
	h.Revoked = slices.Compact(h.Revoked)
}

// IsRevoked reports whether agency is in the revoked list.
func (h *Hashes) IsRevoked(agency string) bool {
	return slices.Contains(h.Revoked, agency)
}

// CheckHTTPToken returns the agency whose HTTP bearer token is token.
//
// The token is looked up by its SHA-256 digest, so the cost does not depend on the number
// of agencies, and the stored digest is compared in constant time. Timing can at most reveal
// something about the digest of a guessed token, which does not help find a valid one.
// Revoked agencies never match.
func (h *Hashes) CheckHTTPToken(token string) (agency string, ok bool) {
	if h == nil || token == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	if h.byToken != nil {
		agency, ok = h.byToken[sum]
		if !ok {
			return "", false
		}
		return agency, h.matchToken(agency, sum)
	}
	for code := range h.Agencies {
		if h.matchToken(code, sum) {
			return code, true
		}
	}
	return "", false
}

func (h *Hashes) matchToken(agency string, sum [sha256.Size]byte) bool {
	a, ok := h.Agencies[agency]
	if !ok || h.IsRevoked(agency) {
		return false
	}
	want, err := hex.DecodeString(a.HTTPTokenSHA256)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(want, sum[:]) == 1
}

// index builds byToken. Call it after any change to Agencies.
func (h *Hashes) index() {
	h.byToken = make(map[[sha256.Size]byte]string, len(h.Agencies))
	for code, a := range h.Agencies {
		b, err := hex.DecodeString(a.HTTPTokenSHA256)
		if err != nil || len(b) != sha256.Size {
			continue
		}
		h.byToken[[sha256.Size]byte(b)] = code
	}
}

// validate checks that every stored hash has the expected form, so that a damaged file is
// reported when it is loaded rather than as a stream of failed logins.
func (h *Hashes) validate() error {
	for code, a := range h.Agencies {
		if err := ValidateAgency(code); err != nil {
			return err
		}
		if !isBcrypt(a.NATSPasswordBcrypt) {
			return fmt.Errorf("credentials: agency %q: nats_password_bcrypt is not a bcrypt hash", code)
		}
		if b, err := hex.DecodeString(a.HTTPTokenSHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("credentials: agency %q: http_token_sha256 is not a hex SHA-256 digest", code)
		}
	}
	if h.Admin.User == "" || !isBcrypt(h.Admin.PasswordBcrypt) {
		return errors.New("credentials: admin user or its bcrypt hash is missing")
	}
	for name, u := range h.Services {
		if u.User == "" || !isBcrypt(u.PasswordBcrypt) {
			return fmt.Errorf("credentials: service %q: user or its bcrypt hash is missing", name)
		}
	}
	return nil
}

var agencyCode = regexp.MustCompile(`^[a-z0-9-]{1,48}$`)

// ValidateAgency reports whether code can be an agency's NATS user: it must be
// [a-z0-9-]{1,48} and must not be the name of the admin or of a service user.
func ValidateAgency(code string) error {
	if !agencyCode.MatchString(code) {
		return fmt.Errorf("%w: %q", ErrInvalidAgency, code)
	}
	if code == AdminUser {
		return fmt.Errorf("%w: %q is the operator user", ErrInvalidAgency, code)
	}
	for _, s := range services {
		if code == ServiceUser(s) {
			return fmt.Errorf("%w: %q is a service user", ErrInvalidAgency, code)
		}
	}
	return nil
}
