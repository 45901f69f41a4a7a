package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/chdb"
	"github.com/bacgiang/cds/chserver/chtest"
	"github.com/bacgiang/cds/natsserver"
)

type harness struct {
	js jetstream.JetStream
	db *chdb.DB
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := natsserver.Start(ctx, natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	if err := natsserver.EnsureStreams(ctx, js, natsserver.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	ch := chtest.Start(tb)
	db, err := chdb.Open(ctx, chdb.Config{Addr: ch.Addr()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return &harness{js: js, db: db}
}

func (h *harness) publish(tb testing.TB, subject, body string, msgID bool) uint64 {
	tb.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(body)
	if msgID {
		var id string
		if i := strings.Index(body, `"id":"`); i >= 0 {
			id = body[i+6:]
			id = id[:strings.Index(id, `"`)]
		}
		m.Header.Set(jetstream.MsgIDHeader, id)
	}
	ack, err := h.js.PublishMsg(context.Background(), m)
	if err != nil {
		tb.Fatalf("publish: %v", err)
	}
	return ack.Sequence
}

// run starts a projector and waits until it has folded up to seq; the
// returned func stops it.
func (h *harness) run(tb testing.TB, seq uint64) (*Projector, func()) {
	tb.Helper()
	p, err := New(Config{BatchWait: 20 * time.Millisecond}, h.js, h.db, func(c string) bool { return c != "nobody" }, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.Watermark() < seq {
		if time.Now().After(deadline) {
			stop()
			tb.Fatalf("watermark %d, want %d", p.Watermark(), seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p, stop
}

func (h *harness) count(tb testing.TB, q string, args ...any) float64 {
	tb.Helper()
	var v float64
	if err := h.db.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return v
}

func workfile(id, agency, at, wf string, online bool) string {
	return fmt.Sprintf(`{"id":%q,"type":"workfile.processed","v":1,"agency":%q,"occurred_at":%q,"data":{"workfile_id":%q,"online":%t}}`, id, agency, at, wf, online)
}

const subj = "cds.events.bg-vietyen.workfile.processed"

// hscv returns numerator and denominator of bg-vietyen's HSCV for 2025 up to
// 2025-06-30, straight from the cells, and the raw row count.
func (h *harness) hscv(tb testing.TB) (num, den, raw float64) {
	num = h.count(tb, "SELECT sum(num) FROM cds.cells WHERE indicator='HSCV' AND unit='bg-vietyen' AND period=2025 AND day <= '2025-06-30'")
	den = h.count(tb, "SELECT sum(den) FROM cds.cells WHERE indicator='HSCV' AND unit='bg-vietyen' AND period=2025 AND day <= '2025-06-30'")
	raw = h.count(tb, "SELECT toFloat64(count()) FROM cds.events")
	return
}

func TestRestartKeepsDuplicatesOut(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 50; i++ {
		h.publish(t, subj, workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), i%5 != 0), true)
	}
	_, stop := h.run(t, 50)
	stop()
	// After the restart the projector knows the ids only from ClickHouse.
	seq := h.publish(t, subj, workfile("e3", "bg-vietyen", "2025-03-01T10:00:00+07:00", "W3", true), false)
	seq = max(seq, h.publish(t, subj, workfile("e50", "bg-vietyen", "2025-03-02T10:00:00+07:00", "W50", true), true))
	_, stop = h.run(t, seq)
	defer stop()
	if num, den, raw := h.hscv(t); num != 41 || den != 51 || raw != 51 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 41/51 and 51", num, den, raw)
	}
}

// TestRecoveryDeletesUnfinishedBatch plays the crash between the raw insert
// and the commit: rows above the watermark exist, cells do not.
func TestRecoveryDeletesUnfinishedBatch(t *testing.T) {
	h := newHarness(t)
	var seq uint64
	for i := 0; i < 10; i++ {
		seq = h.publish(t, subj, workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), true), true)
	}
	_, stop := h.run(t, 5)
	stop()
	wm := h.count(t, "SELECT toFloat64(sum(n)) FROM cds.rollup WHERE indicator='#watermark'")
	// Forge what a killed projector leaves behind: raw rows of the next
	// messages without their cells and watermark.
	ctx := context.Background()
	b, err := h.db.PrepareBatch(ctx, "INSERT INTO cds.events (id, type, v, agency, occurred_at, supersedes, retraction, data, seq, received_at)")
	if err != nil {
		t.Fatal(err)
	}
	for s := uint64(wm) + 1; s <= seq; s++ {
		id := fmt.Sprintf("e%d", s-1)
		if err := b.Append(id, "workfile.processed", uint8(1), "bg-vietyen", time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC), "", uint8(0), `{"workfile_id":"W`+id[1:]+`","online":true}`, s, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	_, stop = h.run(t, seq)
	defer stop()
	if num, den, raw := h.hscv(t); num != 10 || den != 10 || raw != 10 {
		t.Fatalf("HSCV %v/%v with %v raw rows, want 10/10 and 10", num, den, raw)
	}
}

func TestDeadLetterReasons(t *testing.T) {
	h := newHarness(t)
	ok := workfile("ok", "bg-vietyen", "2025-03-01T10:00:00+07:00", "W", true)
	future := time.Now().Add(72 * time.Hour).Format(time.RFC3339)
	tests := []struct {
		subject, body, reason, field string
	}{
		{subj, `{"id":`, "malformed", ""},
		{subj, strings.Replace(ok, "workfile.processed", "workfile.lost", 1), "unknown_type", "type"},
		{subj, strings.Replace(ok, `"online":true`, `"online":"yes"`, 1), "malformed", "data.online"},
		{subj, strings.Replace(ok, `,"online":true`, ``, 1), "missing_field", "data.online"},
		{subj, strings.Replace(ok, `"online":true`, `"online":true,"x":1`, 1), "unknown_field", "data.x"},
		{"cds.events.bg-hiephoa.workfile.processed", ok, "subject_mismatch", "agency"},
		{"cds.events.nobody.workfile.processed", strings.Replace(ok, "bg-vietyen", "nobody", 1), "unknown_agency", "agency"},
		{subj, strings.Replace(ok, "2025-03-01T10:00:00+07:00", future, 1), "future", "occurred_at"},
	}
	var seq uint64
	for _, tt := range tests {
		seq = h.publish(t, tt.subject, tt.body, false)
	}
	_, stop := h.run(t, seq)
	defer stop()
	ctx := context.Background()
	dlq, err := h.js.Stream(ctx, natsserver.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		m, err := dlq.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatalf("dead letter %d: %v", i+1, err)
		}
		if got := m.Header.Get(HeaderReason); got != tt.reason || m.Header.Get(HeaderField) != tt.field || string(m.Data) != tt.body || m.Subject != "cds.dlq."+tt.reason {
			t.Errorf("dead letter %d: reason %q field %q subject %s, want %q %q", i+1, got, m.Header.Get(HeaderField), m.Subject, tt.reason, tt.field)
		}
		if m.Header.Get(HeaderError) == "" || m.Header.Get(HeaderStreamSeq) != fmt.Sprint(i+1) {
			t.Errorf("dead letter %d lacks error or seq: %v", i+1, m.Header)
		}
	}
	if _, _, raw := h.hscv(t); raw != 0 {
		t.Errorf("%v invalid events reached cds.events", raw)
	}
}
