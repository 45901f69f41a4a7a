package credentials

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"

	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the bcrypt work factor of stored NATS password hashes.
//
// Every secret is 32 bytes from crypto/rand, so guessing one from its hash takes about
// 2^255 bcrypt evaluations at any cost: the work factor, which exists to slow down guessing of
// low-entropy human passwords, adds no protection here. What it does cost is server CPU,
// measured on the 2-core build machine (BenchmarkBcryptCompare):
//
//	cost  4: ~0.95 ms per check   cost  6: ~3.6 ms   cost  8: ~16 ms   cost 10: ~60 ms
//
// nats-server checks the hash on every CONNECT, and again for every connected client, one after
// the other, on each configuration reload. Measured with 200 agencies: at cost 4 all 200
// connecting at once are in after 0.15 s and a reload with 200 connected takes 0.21 s; at
// cost 10, 197 of 200 concurrent connects failed (they queued past nats-server's 2 s auth
// timeout), and a reload would take ~12 s. Every bad login attempt also buys an attacker
// 60 ms of our CPU at cost 10. So the minimum cost.
const BcryptCost = bcrypt.MinCost

// secretBytes is the entropy of every generated secret.
const secretBytes = 32

// newSecret returns secretBytes random bytes, base64url-encoded without padding (43 characters).
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("credentials: read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("credentials: bcrypt: %w", err)
	}
	return string(h), nil
}

func passwordMatches(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// bcryptHash matches what nats-server accepts as a hashed password.
var bcryptHash = regexp.MustCompile(`^\$2[abxy]\$\d{2}\$.{53}$`)

func isBcrypt(s string) bool { return bcryptHash.MatchString(s) }

func newAgencySecret() (AgencySecret, AgencyHash, error) {
	pw, err := newSecret()
	if err != nil {
		return AgencySecret{}, AgencyHash{}, err
	}
	tok, err := newSecret()
	if err != nil {
		return AgencySecret{}, AgencyHash{}, err
	}
	s := AgencySecret{NATSPassword: pw, HTTPToken: tok}
	h, err := hashAgency(s)
	return s, h, err
}

func hashAgency(s AgencySecret) (AgencyHash, error) {
	pw, err := hashPassword(s.NATSPassword)
	if err != nil {
		return AgencyHash{}, err
	}
	return AgencyHash{NATSPasswordBcrypt: pw, HTTPTokenSHA256: hashToken(s.HTTPToken)}, nil
}

func newUser(name string) (NATSUser, HashedUser, error) {
	pw, err := newSecret()
	if err != nil {
		return NATSUser{}, HashedUser{}, err
	}
	u := NATSUser{User: name, Password: pw}
	h, err := hashUser(u)
	return u, h, err
}

func hashUser(u NATSUser) (HashedUser, error) {
	pw, err := hashPassword(u.Password)
	if err != nil {
		return HashedUser{}, err
	}
	return HashedUser{User: u.User, PasswordBcrypt: pw}, nil
}
