// Package authguard slows down guessing of secrets: it counts failed
// authentications per source address and, past a budget, refuses that
// address's attempts without checking them (docs/security.md).
package authguard

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults: 10 failures at once, then one a second, per source address.
const (
	DefaultBurst = 10
	DefaultRate  = 1.0
	// maxSources bounds the memory of the guard; when that many addresses
	// have failed, the oldest state is forgotten all at once.
	maxSources = 10_000
	// logEvery is how often one source's failures are logged.
	logEvery = 10 * time.Second
)

// Guard counts failed authentications per source address. Its zero value is
// not usable; New makes one. A nil *Guard lets everything through.
type Guard struct {
	rate  rate.Limit
	burst int
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	sources map[string]*source
}

type source struct {
	failures *rate.Limiter
	total    uint64
	logged   time.Time
}

// New returns a Guard with the default budget that logs to log (nil: no
// log).
func New(log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{rate: DefaultRate, burst: DefaultBurst, log: log, now: time.Now, sources: map[string]*source{}}
}

// Blocked reports how long addr must wait before its next attempt is
// checked: 0 while it is within its budget of failures.
func (g *Guard) Blocked(addr string) time.Duration {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sources[host(addr)]
	if !ok {
		return 0
	}
	now := g.now()
	if tokens := s.failures.TokensAt(now); tokens < 1 {
		return time.Duration((1 - tokens) / float64(g.rate) * float64(time.Second))
	}
	return 0
}

// Fail records a failed authentication from addr and logs it (what was
// tried, never the secret): the first of a source, then at most every 10 s
// with the count.
func (g *Guard) Fail(addr, what string) {
	if g == nil {
		return
	}
	h := host(addr)
	g.mu.Lock()
	s, ok := g.sources[h]
	if !ok {
		if len(g.sources) >= maxSources {
			g.sources = map[string]*source{}
		}
		s = &source{failures: rate.NewLimiter(g.rate, g.burst)}
		g.sources[h] = s
	}
	now := g.now()
	s.failures.AllowN(now, 1)
	s.total++
	total, logIt := s.total, now.Sub(s.logged) >= logEvery
	if logIt {
		s.logged = now
	}
	g.mu.Unlock()
	if logIt {
		g.log.Warn("authentication failed", "source", h, "credential", what, "failures", total)
	}
}

// host is the address without its port: a client's port changes with each
// connection.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// RetryAfter is the value of a Retry-After header for d: whole seconds, at
// least 1.
func RetryAfter(d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	return strconv.Itoa(max(secs, 1))
}

// SourceOf is the source address of a request: the peer of the connection.
// Forwarded-for headers are not trusted: anyone can write them.
func SourceOf(r *http.Request) string { return r.RemoteAddr }
