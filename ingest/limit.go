package ingest

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter holds, per agency, a token bucket counted in events and the number
// of requests in progress. Only authenticated agencies get an entry, so the
// map is bounded by the number of credentials.
type limiter struct {
	cfg         Config
	maxInFlight int

	mu       sync.Mutex
	agencies map[string]*agencyLimit
}

type agencyLimit struct {
	bucket   *rate.Limiter // nil when rate limiting is off
	inFlight int
}

func newLimiter(cfg Config) *limiter {
	return &limiter{cfg: cfg, maxInFlight: cfg.MaxInFlight, agencies: map[string]*agencyLimit{}}
}

func (l *limiter) get(agency string) *agencyLimit {
	a, ok := l.agencies[agency]
	if !ok {
		a = &agencyLimit{}
		if lim := l.cfg.LimitOf(agency); lim.Rate > 0 {
			a.bucket = rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst)
		}
		l.agencies[agency] = a
	}
	return a
}

// enter counts a request of agency in progress; false when the agency
// already has maxInFlight requests in progress. Call leave when enter
// returned true.
func (l *limiter) enter(agency string) bool {
	if l.maxInFlight <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.get(agency)
	if a.inFlight >= l.maxInFlight {
		return false
	}
	a.inFlight++
	return true
}

func (l *limiter) leave(agency string) {
	if l.maxInFlight <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.agencies[agency].inFlight--
}

// wait returns how long agency must wait before it may send one event:
// 0 when it may send now. It takes nothing from the bucket, so that a
// request refused before its body is read costs nothing.
func (l *limiter) wait(agency string, now time.Time) time.Duration {
	l.mu.Lock()
	a := l.get(agency)
	l.mu.Unlock()
	if a.bucket == nil {
		return 0
	}
	tokens := a.bucket.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(a.bucket.Limit()) * float64(time.Second))
}

// take takes n events from agency's bucket, or nothing and the time after
// which the n events would fit.
func (l *limiter) take(agency string, n int, now time.Time) time.Duration {
	l.mu.Lock()
	a := l.get(agency)
	l.mu.Unlock()
	if a.bucket == nil {
		return 0
	}
	r := a.bucket.ReserveN(now, n)
	if !r.OK() { // n > burst: Config.LimitOf keeps burst >= MaxBatch
		return time.Duration(float64(n) / float64(a.bucket.Limit()) * float64(time.Second))
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// retryAfter is the value of a Retry-After header for a wait of d: whole
// seconds, rounded up, at least 1.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
