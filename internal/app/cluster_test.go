package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector"
)

// startNATSCluster runs three `cds nats` systems as a cluster, each with its
// own data directory holding the same credentials (as a deployment copies
// or shares the credentials file), and returns them once every node has
// the streams in place, with the shared data directory.
func startNATSCluster(t *testing.T, opts ...func(*Config)) ([]*System, string) {
	t.Helper()
	shared := t.TempDir()
	reg, _, err := Defaults().Domain()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := credentials.Ensure(shared, reg.Codes()); err != nil {
		t.Fatal(err)
	}
	var ports []int
	var routes []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		routes = append(routes, "nats-route://"+l.Addr().String())
		l.Close()
	}
	systems := make([]*System, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		dir := t.TempDir()
		for _, f := range []string{credentials.FileName, "credentials.hashes.json"} {
			b, err := os.ReadFile(filepath.Join(shared, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg := Defaults()
		cfg.DataDir = dir
		cfg.NATSAddr = "127.0.0.1:-1"
		cfg.NATSServerName = fmt.Sprintf("nats-%d", i+1)
		cfg.NATSCluster = natsserver.Cluster{Listen: "127.0.0.1:" + strconv.Itoa(ports[i]), Routes: routes}
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		for _, o := range opts {
			o(&cfg)
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			systems[i], errs[i] = Start(ctx, cfg, Parts{NATS: true})
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range systems {
			if s != nil {
				s.Close(context.Background())
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	return systems, shared
}

func clusterURLs(systems []*System) string {
	var out []string
	for _, s := range systems {
		out = append(out, s.NATSURL())
	}
	return strings.Join(out, ",")
}

// TestNATSCluster: three cds nats nodes create CDS_EVENTS, CDS_DLQ and the
// projector's lease bucket with three replicas, fsync always by default;
// services connect with the list of URLs; an agency's event passes the
// gate (with its checks) of the node it is connected to; cds agency's
// reload request reaches the nodes through the list.
func TestNATSCluster(t *testing.T) {
	systems, shared := startNATSCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	urls := clusterURLs(systems)
	js := projectorJetStream(t, urls, shared)
	for _, name := range []string{natsserver.EventsStream, natsserver.DeadLetterStream, "KV_" + projector.LeaseBucket} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := st.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("%s has %d replicas, want 3", name, got)
		}
	}
	for i, s := range systems {
		if js := s.NATS.Inner().JetStreamConfig(); js == nil || !js.SyncAlways {
			t.Errorf("node %d: JetStream %+v, want sync_interval always by default in a cluster", i+1, js)
		}
	}

	f, err := credentials.LoadFile(shared)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range systems {
		a, err := nats.Connect(s.NATSURL(), nats.UserInfo("bg-vietyen", f.Agencies["bg-vietyen"].NATSPassword), nats.CustomInboxPrefix("_INBOX.bg-vietyen"))
		if err != nil {
			t.Fatal(err)
		}
		ajs, err := jetstream.New(a)
		if err != nil {
			t.Fatal(err)
		}
		const subject = "cds.events.bg-vietyen.workfile.processed"
		id := fmt.Sprintf("cl-%d", i)
		good := eventtest.Workfile(id, "bg-vietyen", "2025-03-01T09:00:00+07:00", "W-"+id, true)
		if _, err := ajs.Publish(ctx, subject, []byte(good), jetstream.WithMsgID(id)); err != nil {
			t.Errorf("publish through node %d: %v", i+1, err)
		}
		bad := eventtest.Workfile(id+"-bad", "bg-vietyen", "1999-03-01T09:00:00+07:00", "W-"+id, true)
		if _, err := ajs.Publish(ctx, subject, []byte(bad), jetstream.WithMsgID(id+"-bad")); err == nil {
			t.Errorf("node %d's gate stored an event of 1999", i+1)
		}
		a.Close()
	}

	cfg := systems[0].Config
	cfg.DataDir, cfg.NATSURL = shared, urls
	if _, _, err := NotifyCredentials(ctx, cfg); err != nil {
		t.Errorf("NotifyCredentials through the list: %v", err)
	}

	// A lease bucket left with one replica (made by an older projector) is raised.
	if _, err := js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: projector.LeaseBucket, History: 1, Storage: jetstream.FileStorage, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	kv, err := projector.EnsureLeaseBucket(ctx, js, 3)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas; got != 3 {
		t.Errorf("lease bucket raised to %d replicas, want 3", got)
	}
}
