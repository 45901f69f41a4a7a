package projector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LeaseBucket is the JetStream key-value bucket that holds the projector
// lease, one key per database and stream (see doc.go, "One active projector").
const LeaseBucket = "CDS_PROJECTOR"

// ErrLeaseLost is returned (wrapped) by the steps of a projector that is no
// longer the active one: its lease was taken over, or it could not renew it
// within the lease's TTL. Run then waits as a standby again.
var ErrLeaseLost = errors.New("projector: lease lost")

// leaseValue is the JSON value of the lease key.
type leaseValue struct {
	Holder string `json:"holder"` // process that holds it: host, pid, random id
	Epoch  uint64 `json:"epoch"`  // incremented by each takeover
	Token  string `json:"token"`  // epoch and holder: written in every commit marker
	// Unsealed lists the tokens of earlier holders whose commit markers the
	// holder has not sealed yet (see Projector.seal).
	Unsealed []string `json:"unsealed,omitempty"`
	Released bool     `json:"released,omitempty"` // given up by a clean shutdown: take it at once
}

// lease is one projector's claim on the lease key. Every write is a
// compare-and-set on the key's revision, so two processes can never both
// believe they took it. A holder renews it every ttl/4; a standby takes it
// once it has seen the same revision for ttl on its own clock, which is
// later than the holder's own deadline (the holder counts from before it
// sent its last renewal), whatever the clocks of the hosts say.
type lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	ttl    time.Duration
	poll   time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	held   bool
	fresh  bool      // taken by creating the key: the earlier holders are unknown
	rev    uint64    // revision of our last write
	sent   time.Time // when the last write that succeeded was sent
	val    leaseValue
	waited string // holder last reported while waiting, to log once per holder
}

func newHolderID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// leaseKey names the lease of a database and stream; KV keys allow
// [-/_=.a-zA-Z0-9].
func leaseKey(database, stream string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r == '=' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
				return r
			}
			return '_'
		}, s)
	}
	return "lease." + clean(database) + "." + clean(stream)
}

// openLease opens the lease bucket, creating it if needed with the replica
// count of the stream it guards (so a replicated log gets a replicated
// lease), and raising a bucket with fewer replicas to it.
func openLease(ctx context.Context, js jetstream.JetStream, stream, key string, ttl time.Duration, logger *slog.Logger) (*lease, error) {
	replicas := 1
	if st, err := js.Stream(ctx, stream); err == nil {
		replicas = max(st.CachedInfo().Config.Replicas, 1)
	}
	kv, err := EnsureLeaseBucket(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	return &lease{kv: kv, key: key, holder: newHolderID(), ttl: ttl, poll: max(ttl/8, 10*time.Millisecond), log: logger}, nil
}

// EnsureLeaseBucket creates the lease bucket LeaseBucket (one history
// entry, file storage) with replicas copies, or raises an existing bucket
// with fewer replicas to replicas; it never lowers them.
func EnsureLeaseBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "cds projector lease: the one active projector per database and stream",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
	kv, err := js.KeyValue(ctx, LeaseBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, LeaseBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", LeaseBucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", LeaseBucket, err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return kv, nil
	}
	if have := bs.StreamInfo().Config.Replicas; have < cfg.Replicas {
		if kv, err = js.UpdateKeyValue(ctx, cfg); err != nil {
			return nil, fmt.Errorf("lease bucket %s: from %d to %d replicas: %w", LeaseBucket, have, cfg.Replicas, err)
		}
	}
	return kv, nil
}

// token returns the token of the lease held, "" if none.
func (l *lease) token() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return ""
	}
	return l.val.Token
}

// valid reports whether the lease is held with at least margin left before
// the earliest moment a standby may take it over.
func (l *lease) valid(margin time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held && time.Since(l.sent) < l.ttl-margin
}

// fence returns ErrLeaseLost unless the lease is held with a third of its
// TTL left: every write to ClickHouse is preceded by it, so a projector
// that lost its lease (or was paused) does not start writing.
func (l *lease) fence(what string) error {
	if l.valid(l.ttl / 3) {
		return nil
	}
	return fmt.Errorf("%w: not writing %s", ErrLeaseLost, what)
}

// unsealed returns the tokens whose markers the holder must seal.
func (l *lease) unsealed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.val.Unsealed...)
}

// lastHolder returns the other holder last seen while waiting.
func (l *lease) lastHolder() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waited
}

// unknownHistory reports whether the lease was taken by creating its key
// (first start, or a NATS store lost): every earlier token is then history.
func (l *lease) unknownHistory() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fresh
}

// sealed records that the earlier holders' markers are sealed; the next
// renewal writes it.
func (l *lease) sealed() {
	l.mu.Lock()
	l.val.Unsealed = nil
	l.mu.Unlock()
}

// drop forgets the lease (it was lost).
func (l *lease) drop() {
	l.mu.Lock()
	l.held = false
	l.mu.Unlock()
}

// acquire waits as a standby until the lease is free, released or expired,
// then takes it. It returns at once when the lease is already held and
// valid. waiting, if not nil, is called with the holder each time another
// one is seen.
func (l *lease) acquire(ctx context.Context, waiting func(holder string)) error {
	if l.valid(l.ttl / 3) {
		return nil
	}
	l.drop()
	var seenRev uint64
	var seenAt time.Time
	for {
		e, err := l.kv.Get(ctx, l.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			v := leaseValue{Holder: l.holder, Epoch: 1}
			v.Token = token(v.Epoch, l.holder)
			if l.take(ctx, v, 0) {
				return nil
			}
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, nats.ErrConnectionClosed) {
				return fmt.Errorf("%w: read the lease: %v", ErrPermanent, err)
			}
			l.log.Warn("lease: cannot read the lease; retrying", "err", err, "key", l.key)
		default:
			var cur leaseValue
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				cur = leaseValue{} // unreadable: taken over once expired like any other
			}
			if e.Revision() != seenRev {
				seenRev, seenAt = e.Revision(), time.Now()
			}
			if cur.Released || cur.Holder == l.holder || time.Since(seenAt) >= l.ttl {
				v := leaseValue{Holder: l.holder, Epoch: cur.Epoch + 1}
				v.Token = token(v.Epoch, l.holder)
				v.Unsealed = append(v.Unsealed, cur.Unsealed...)
				if cur.Token != "" {
					v.Unsealed = append(v.Unsealed, cur.Token)
				}
				if l.take(ctx, v, e.Revision()) {
					return nil
				}
			} else if l.lastHolder() != cur.Holder {
				l.mu.Lock()
				l.waited = cur.Holder
				l.mu.Unlock()
				if waiting != nil {
					waiting(cur.Holder)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.poll):
		}
	}
}

func token(epoch uint64, holder string) string {
	return strconv.FormatUint(epoch, 10) + "@" + holder
}

// take writes v over revision rev (0: the key must not exist) and reports
// whether it won.
func (l *lease) take(ctx context.Context, v leaseValue, rev uint64) bool {
	b, _ := json.Marshal(v)
	sent := time.Now()
	var err error
	var got uint64
	if rev == 0 {
		got, err = l.kv.Create(ctx, l.key, b)
	} else {
		got, err = l.kv.Update(ctx, l.key, b, rev)
	}
	if err != nil {
		if !wrongRevision(err) && ctx.Err() == nil {
			l.log.Warn("lease: cannot take the lease; retrying", "err", err, "key", l.key)
		}
		return false
	}
	l.mu.Lock()
	l.held, l.rev, l.sent, l.val, l.fresh = true, got, sent, v, rev == 0
	l.mu.Unlock()
	return true
}

// wrongRevision reports whether err says another write of the key came first.
func wrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// keep renews the lease every ttl/4 until ctx ends (nil) or the lease is
// lost (ErrLeaseLost): another process wrote the key, or no renewal
// succeeded for the TTL (NATS unreachable). check, if not nil, runs after
// each renewal; its error ends keep.
func (l *lease) keep(ctx context.Context, check func(context.Context) error) error {
	t := time.NewTicker(l.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := l.renew(ctx); err != nil {
			l.drop()
			return err
		}
		if check != nil {
			if err := check(ctx); err != nil {
				return err
			}
		}
	}
}

func (l *lease) renew(ctx context.Context) error {
	l.mu.Lock()
	v, rev, sentBefore := l.val, l.rev, l.sent
	l.mu.Unlock()
	b, _ := json.Marshal(v)
	rctx, cancel := context.WithTimeout(ctx, l.ttl/4)
	defer cancel()
	sent := time.Now()
	got, err := l.kv.Update(rctx, l.key, b, rev)
	if wrongRevision(err) {
		// Our previous renewal may have landed unacknowledged: then the
		// key still holds our token.
		e, gerr := l.kv.Get(rctx, l.key)
		var cur leaseValue
		if gerr == nil && json.Unmarshal(e.Value(), &cur) == nil && cur.Token == v.Token && !cur.Released {
			got, err = l.kv.Update(rctx, l.key, b, e.Revision())
		}
		if wrongRevision(err) {
			return fmt.Errorf("%w: taken over by %s (epoch %d)", ErrLeaseLost, cur.Holder, cur.Epoch)
		}
	}
	if err != nil {
		if time.Since(sentBefore) >= l.ttl {
			return fmt.Errorf("%w: not renewed for %s: %v", ErrLeaseLost, l.ttl, err)
		}
		l.log.Warn("lease: renewal failed; retrying", "err", err)
		return nil
	}
	l.mu.Lock()
	l.rev, l.sent = got, sent
	l.mu.Unlock()
	return nil
}

// release gives the lease up so that a standby takes it at once.
func (l *lease) release(ctx context.Context) {
	l.mu.Lock()
	held, v, rev := l.held, l.val, l.rev
	l.held = false
	l.mu.Unlock()
	if !held {
		return
	}
	v.Released = true
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := l.kv.Update(ctx, l.key, b, rev); err != nil && !wrongRevision(err) {
		l.log.Warn("lease: release failed; a standby takes over once it expires", "err", err)
	}
}
