package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bacgiang/cds/internal/pubacks"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes through several NATS servers, one connection each: a
// window of messages goes to one server, the next window to the next; a
// window whose acknowledgements do not all arrive is published again
// through the next server. Every message must carry a Nats-Msg-Id, so that
// a retried message is stored once (within the stream's duplicate window).
type Publisher struct {
	conns []*nats.Conn
	js    []jetstream.JetStream
	next  int
	// Window is how many messages are in flight at once; default 1024.
	Window int
	// AckWait bounds the wait for a window's acknowledgements; default 5s.
	AckWait time.Duration
	// Retries counts the windows published again.
	Retries int
}

// NewPublisher connects to each of urls with the given user. Each
// connection keeps to its own server (it ignores the servers the cluster
// announces), so that the load goes through every URL and the failover is
// the Publisher's.
func NewPublisher(urls []string, user, password string) (*Publisher, error) {
	p := &Publisher{Window: 1024, AckWait: 5 * time.Second}
	for _, u := range urls {
		nc, err := nats.Connect(u,
			nats.Name("cds-cluster-publisher"),
			nats.UserInfo(user, password),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(200*time.Millisecond),
			nats.IgnoreDiscoveredServers(),
		)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("cluster: connect %s: %w", u, err)
		}
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
		if err != nil {
			nc.Close()
			p.Close()
			return nil, fmt.Errorf("cluster: %w", err)
		}
		p.conns, p.js = append(p.conns, nc), append(p.js, js)
	}
	return p, nil
}

// Close closes the connections.
func (p *Publisher) Close() {
	for _, nc := range p.conns {
		nc.Close()
	}
}

// ErrNoMsgID is returned by Publish for a message without Nats-Msg-Id.
var ErrNoMsgID = errors.New("cluster: message without Nats-Msg-Id")

// Publish publishes msgs in order of windows and returns the highest stream
// sequence acknowledged. It retries until every message is acknowledged or
// ctx ends; after (a window of) msgs, progress(n) is called with the number
// published so far, if progress is not nil.
func (p *Publisher) Publish(ctx context.Context, msgs []*nats.Msg, progress func(int)) (uint64, error) {
	for _, m := range msgs {
		if m.Header.Get(jetstream.MsgIDHeader) == "" {
			return 0, fmt.Errorf("%w (subject %s)", ErrNoMsgID, m.Subject)
		}
	}
	var last uint64
	for i := 0; i < len(msgs); {
		j := min(i+p.Window, len(msgs))
		js := p.js[p.next%len(p.js)]
		p.next++
		seq, err := p.window(ctx, js, msgs[i:j])
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if err != nil {
			p.Retries++
			continue // the same window through the next server
		}
		last = max(last, seq)
		i = j
		if progress != nil {
			progress(i)
		}
	}
	return last, nil
}

func (p *Publisher) window(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) (uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		// A copy: a message may be published again through another
		// connection, and PublishMsgAsync keeps the one it is given.
		c := nats.NewMsg(m.Subject)
		c.Data, c.Header = m.Data, m.Header
		f, err := js.PublishMsgAsync(c, jetstream.WithStallWait(p.AckWait))
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	return pubacks.Await(ctx, futures, p.AckWait)
}
