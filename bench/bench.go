// Package bench measures cds on a fresh embedded setup: JetStream publish,
// the raw read ceiling, the projector's drain of queued events and a rebuild,
// each printed as "name: value unit" so runs can be compared.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/app"
	"github.com/bacgiang/cds/chdb"
	"github.com/bacgiang/cds/chserver"
	"github.com/bacgiang/cds/credentials"
	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/natsserver"
	"github.com/bacgiang/cds/projector"
	"github.com/bacgiang/cds/registry"
)

// Config says what to measure.
type Config struct {
	Events         int    // events queued before the drain, default 100000
	ClickHouseAddr string // external ClickHouse; empty starts a managed one on free ports
	Dir            string // working directory; empty = a temporary one, removed after
	BatchMax       int    // projector batch size; 0 = projector default
	Out            io.Writer
	Progress       io.Writer // progress lines; nil = none
}

// Run measures and prints the figures.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Events == 0 {
		cfg.Events = 100000
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "cds-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	reg := registry.Sample()
	acfg := app.Defaults()
	acfg.DataDir = dir
	acfg.NATSAddr = "127.0.0.1:-1"
	ns, err := app.StartNATS(ctx, acfg, reg)
	if err != nil {
		return err
	}
	defer ns.Close()
	creds, err := credentials.LoadFile(dir)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(creds.Admin.User, creds.Admin.Password))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return err
	}

	chAddr := cfg.ClickHouseAddr
	if chAddr == "" {
		tcp, err := freeAddr()
		if err != nil {
			return err
		}
		httpAddr, err := freeAddr()
		if err != nil {
			return err
		}
		srv, err := chserver.Start(ctx, chserver.Config{Dir: filepath.Join(dir, "clickhouse"), TCPAddr: tcp, HTTPAddr: httpAddr, NoAdopt: true})
		if err != nil {
			return err
		}
		defer srv.Close()
		chAddr = srv.Addr()
	}
	dbName := "cds_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	db, err := chdb.Open(ctx, chdb.Config{Addr: chAddr, Database: dbName})
	if err != nil {
		return err
	}
	defer func() {
		_ = db.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+dbName+"`")
		db.Close()
	}()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}

	fmt.Fprintf(cfg.Out, "machine: %d cores, GOMAXPROCS %d, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(cfg.Out, "events: %d\n", cfg.Events)

	// 1. Publish.
	progress("publishing %d events", cfg.Events)
	msgs := generate(reg, cfg.Events, 1)
	start := time.Now()
	if err := publishAll(ctx, js, msgs); err != nil {
		return err
	}
	pub := rate(cfg.Events, time.Since(start))
	fmt.Fprintf(cfg.Out, "publish_events_per_s: %.0f events/s\n", pub)
	last := uint64(cfg.Events)

	// 2. Raw read ceiling: an ordered consumer reading and decoding everything.
	progress("raw read")
	start = time.Now()
	if err := rawRead(ctx, js, cfg.Events); err != nil {
		return err
	}
	raw := rate(cfg.Events, time.Since(start))
	fmt.Fprintf(cfg.Out, "raw_read_events_per_s: %.0f events/s\n", raw)

	// 3. Projector drain.
	known := func(code string) bool { _, ok := reg.Unit(code); return ok }
	p, err := projector.New(projector.Config{BatchMax: cfg.BatchMax}, js, db, known, nil, nil)
	if err != nil {
		return err
	}
	progress("projector drain")
	st, err := app.Drain(ctx, p, last, func(done, total uint64) { progress("  drained %d / %d", done, total) })
	if err != nil {
		return err
	}
	drain := rate(int(st.Events), st.Duration)
	fmt.Fprintf(cfg.Out, "projector_drain_events_per_s: %.0f events/s\n", drain)
	fmt.Fprintf(cfg.Out, "projector_vs_raw: %.2f\n", drain/raw)

	// 4. Rebuild: drop the database and drain again with a fresh projector.
	progress("rebuild")
	if err := db.Exec(ctx, "DROP DATABASE `"+dbName+"`"); err != nil {
		return err
	}
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	p2, err := projector.New(projector.Config{BatchMax: cfg.BatchMax, NoDeadLetter: true}, js, db, known, nil, nil)
	if err != nil {
		return err
	}
	st, err = app.Drain(ctx, p2, last, func(done, total uint64) { progress("  rebuilt %d / %d", done, total) })
	if err != nil {
		return err
	}
	rebuild := rate(int(st.Events), st.Duration)
	fmt.Fprintf(cfg.Out, "rebuild_events_per_s: %.0f events/s\n", rebuild)
	fmt.Fprintf(cfg.Out, "rebuild_vs_raw: %.2f\n", rebuild/raw)

	var n uint64
	if err := db.QueryRow(ctx, "SELECT count() FROM "+db.Table("events")).Scan(&n); err != nil {
		return err
	}
	if n != uint64(cfg.Events) {
		return fmt.Errorf("after rebuild cds.events holds %d rows, want %d", n, cfg.Events)
	}
	if hwm, err := peakRSS(); err == nil {
		fmt.Fprintf(cfg.Out, "process_peak_rss_mb: %.0f MB (whole bench process: NATS server, projector, generator)\n", hwm)
	}
	return nil
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// generate builds n valid events over 2021-2025 from every unit of the
// registry: mostly work dossiers, with services, reports and inspections.
func generate(reg *registry.Registry, n int, seed uint64) []*nats.Msg {
	rng := rand.New(rand.NewPCG(seed, 42))
	units := reg.Codes()
	base := time.Date(2021, 6, 11, 8, 0, 0, 0, events.Zone)
	span := int(time.Date(2025, 12, 31, 0, 0, 0, 0, events.Zone).Sub(base) / time.Second)
	out := make([]*nats.Msg, n)
	for i := range out {
		ag := units[rng.IntN(len(units))]
		at := base.Add(time.Duration(rng.IntN(span)) * time.Second).Format(time.RFC3339)
		id := fmt.Sprintf("b%08d-%016x", i, rng.Uint64())
		var typ, data string
		switch r := rng.IntN(100); {
		case r < 80:
			typ, data = "workfile.processed", fmt.Sprintf(`{"workfile_id":"WF-%d","online":%t}`, i, rng.IntN(10) < 8)
		case r < 88:
			typ, data = "service.published", fmt.Sprintf(`{"service_code":"1.%06d","level":%d,"mobile":%t}`, rng.IntN(300), 2+rng.IntN(3), rng.IntN(2) == 0)
		case r < 94:
			typ, data = "report.submitted", fmt.Sprintf(`{"report_id":"R-%d","regime":"monthly","via_system":%t}`, i, rng.IntN(10) < 9)
		default:
			typ, data = "inspection.completed", fmt.Sprintf(`{"inspection_id":"I-%d","digital":%t}`, i, rng.IntN(10) < 6)
		}
		m := nats.NewMsg(events.Subject(ag, typ))
		m.Data = []byte(fmt.Sprintf(`{"id":%q,"type":%q,"v":1,"agency":%q,"occurred_at":%q,"data":%s}`, id, typ, ag, at, data))
		m.Header.Set(jetstream.MsgIDHeader, id)
		out[i] = m
	}
	return out
}

func publishAll(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Minute):
		return errors.New("publish: acknowledgements did not arrive in 5 minutes")
	}
}

func rawRead(ctx context.Context, js jetstream.JetStream, n int) error {
	cons, err := js.OrderedConsumer(ctx, natsserver.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(20000))
	if err != nil {
		return err
	}
	defer it.Stop()
	for i := 0; i < n; i++ {
		m, err := it.Next()
		if err != nil {
			return fmt.Errorf("raw read at %d: %w", i, err)
		}
		if _, err := m.Metadata(); err != nil {
			return err
		}
		if _, err := events.Decode(m.Data()); err != nil {
			return fmt.Errorf("raw read: %w", err)
		}
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// peakRSS reads the process's peak resident set (VmHWM) in MB.
func peakRSS() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmHWM")
}
