// Package projtest generates event loads with the cases that make
// exactly-once hard, and checks that ClickHouse holds exactly what a load
// says: for the tests of the projector, of the rebuild and the fault tests.
package projtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/pubacks"
)

// Kind says what the projector must do with a message of a load.
type Kind int

const (
	// Valid: a new event id (plain events, corrections and retractions).
	Valid Kind = iota
	// Duplicate: the bytes of an earlier valid event again, without
	// Nats-Msg-Id, so that JetStream stores it and the projector must drop it.
	Duplicate
	// Invalid: refused and dead-lettered.
	Invalid
)

// Msg is one message of a load.
type Msg struct {
	Subject string
	Data    []byte
	MsgID   string // Nats-Msg-Id, "" for none
	Kind    Kind
	ID      string // event id; "" for most invalid messages
}

// Load is a sequence of messages to publish in order.
type Load struct {
	Msgs []Msg
}

// IDs returns the distinct ids of the valid events: what cds.events must hold.
func (l *Load) IDs() map[string]struct{} {
	out := make(map[string]struct{}, len(l.Msgs))
	for _, m := range l.Msgs {
		if m.Kind == Valid {
			out[m.ID] = struct{}{}
		}
	}
	return out
}

// Count returns how many messages are of kind k.
func (l *Load) Count(k Kind) int {
	n := 0
	for _, m := range l.Msgs {
		if m.Kind == k {
			n++
		}
	}
	return n
}

// Shares of a load, per mille of the valid events.
const (
	dupPerMille        = 30
	correctionPerMille = 20
	earlyPerMille      = 5 // corrections published before their target
	retractionPerMille = 10
	invalidPerMille    = 3
)

// Generate returns a load of about n valid events of every type, from the
// given agencies (bg-ctk and bg-stttt emit the province-wide ones), with 3%
// duplicates without Nats-Msg-Id, 2% corrections (a quarter of them
// published before the event they correct), 1% retractions and 0.3% invalid
// events of several reasons. The same seed gives the same load.
func Generate(seed uint64, n int, agencies []string) *Load {
	g := &gen{rng: rand.New(rand.NewPCG(seed, 0x5eed)), agencies: agencies}
	l := &Load{Msgs: make([]Msg, 0, n+n/10)}
	var held []Msg // targets of early corrections, published a little later
	for len(l.Msgs) < n || len(held) > 0 {
		if len(held) > 0 && (len(l.Msgs) >= n || g.rng.IntN(50) == 0) {
			l.Msgs = append(l.Msgs, held[0])
			held = held[1:]
			continue
		}
		r := g.rng.IntN(1000)
		switch {
		case r < dupPerMille && len(g.valid) > 0:
			m := l.Msgs[g.valid[g.rng.IntN(len(g.valid))]]
			m.Kind, m.MsgID = Duplicate, ""
			l.Msgs = append(l.Msgs, m)
		case r < dupPerMille+correctionPerMille && len(g.valid) > 0:
			target := l.Msgs[g.valid[g.rng.IntN(len(g.valid))]]
			if c, ok := g.correction(target, false); ok {
				g.add(l, c)
			}
		case r < dupPerMille+correctionPerMille+earlyPerMille:
			target := g.event()
			c, _ := g.correction(target, false)
			g.add(l, c)
			held = append(held, target)
		case r < dupPerMille+correctionPerMille+earlyPerMille+retractionPerMille && len(g.valid) > 0:
			target := l.Msgs[g.valid[g.rng.IntN(len(g.valid))]]
			if c, ok := g.correction(target, true); ok {
				g.add(l, c)
			}
		case r < dupPerMille+correctionPerMille+earlyPerMille+retractionPerMille+invalidPerMille:
			l.Msgs = append(l.Msgs, g.invalid())
		default:
			g.add(l, g.event())
		}
	}
	return l
}

type gen struct {
	rng      *rand.Rand
	agencies []string
	n        int
	valid    []int // indexes of plain valid events in the load, targets for corrections
}

func (g *gen) add(l *Load, m Msg) {
	if m.Kind == Valid && !strings.Contains(string(m.Data), `"supersedes"`) {
		g.valid = append(g.valid, len(l.Msgs))
	}
	l.Msgs = append(l.Msgs, m)
}

var (
	base = time.Date(2021, 6, 11, 8, 0, 0, 0, events.Zone)
	// Up to 2025-06-30, the last day on which every unit of the shipped
	// registry is in force (its districts end then): any agency's event is
	// valid on any day of the span.
	span    = int(time.Date(2025, 6, 30, 23, 0, 0, 0, events.Zone).Sub(base) / time.Second)
	sectors = []string{"health", "education", "environment", "industry", "agriculture", "transport"}
)

func (g *gen) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%07d-%08x", prefix, g.n, g.rng.Uint32())
}

func (g *gen) at() string {
	return base.Add(time.Duration(g.rng.IntN(span)) * time.Second).Format(time.RFC3339)
}

func (g *gen) coin(pct int) bool { return g.rng.IntN(100) < pct }

// data returns the data object of a random valid event of type typ.
func (g *gen) data(typ string) string {
	r := g.rng
	switch typ {
	case "workfile.processed":
		return fmt.Sprintf(`{"workfile_id":"WF-%d","online":%t}`, r.IntN(1<<30), g.coin(80))
	case "service.published":
		return fmt.Sprintf(`{"service_code":"1.%06d","level":%d,"mobile":%t}`, r.IntN(200), 1+r.IntN(4), g.coin(60))
	case "service.withdrawn":
		return fmt.Sprintf(`{"service_code":"1.%06d"}`, r.IntN(200))
	case "report.submitted":
		return fmt.Sprintf(`{"report_id":"R-%d","regime":"monthly","via_system":%t}`, r.IntN(1<<30), g.coin(90))
	case "inspection.completed":
		return fmt.Sprintf(`{"inspection_id":"I-%d","digital":%t}`, r.IntN(1<<30), g.coin(60))
	case "auth.recorded":
		kind := "citizen"
		if g.coin(30) {
			kind = "business"
		}
		return fmt.Sprintf(`{"session_id":"S-%d","user_kind":%q,"authenticated":%t}`, r.IntN(1<<30), kind, g.coin(70))
	case "opendata.published":
		return fmt.Sprintf(`{"dataset_id":"D-%d","title":"Dataset %d"}`, r.IntN(500), r.IntN(1000))
	case "enterprise.registered":
		return fmt.Sprintf(`{"enterprise_id":"E-%d","digital":%t}`, r.IntN(5000), g.coin(40))
	case "enterprise.closed":
		return fmt.Sprintf(`{"enterprise_id":"E-%d"}`, r.IntN(5000))
	case "economy.productivity_reported":
		return fmt.Sprintf(`{"year":%d,"labour_productivity":%.1f}`, 2021+r.IntN(5), 80+r.Float64()*60)
	case "dti.published":
		return fmt.Sprintf(`{"year":%d,"rank":%d,"score":%.2f}`, 2021+r.IntN(5), 1+r.IntN(63), 300+r.Float64()*400)
	case "economy.grdp_reported":
		var b strings.Builder
		total, digital := 0.0, 0.0
		for i, s := range sectors {
			t := float64(1000 + r.IntN(20000))
			d := float64(r.IntN(int(t) / 3))
			total, digital = total+t, digital+d
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"sector":%q,"total":%g,"digital":%g}`, s, t, d)
		}
		return fmt.Sprintf(`{"year":%d,"grdp_total":%g,"digital_economy":%g,"sectors":[%s]}`, 2021+r.IntN(5), total, digital, b.String())
	}
	panic("projtest: no generator for " + typ)
}

// event returns a new plain valid event.
func (g *gen) event() Msg {
	var typ, agency string
	switch r := g.rng.IntN(1000); {
	case r < 600:
		typ = "workfile.processed"
	case r < 700:
		typ = "service.published"
	case r < 720:
		typ = "service.withdrawn"
	case r < 800:
		typ = "report.submitted"
	case r < 850:
		typ = "inspection.completed"
	case r < 900:
		typ = "auth.recorded"
	case r < 930:
		typ = "opendata.published"
	case r < 970:
		typ, agency = "enterprise.registered", "bg-ctk"
	case r < 985:
		typ, agency = "enterprise.closed", "bg-ctk"
	case r < 990:
		typ, agency = "economy.productivity_reported", "bg-ctk"
	case r < 995:
		typ, agency = "dti.published", "bg-stttt"
	default:
		typ, agency = "economy.grdp_reported", "bg-ctk"
	}
	if agency == "" {
		agency = g.agencies[g.rng.IntN(len(g.agencies))]
	}
	id := g.id("e")
	return msg(id, typ, agency, g.at(), "", g.data(typ))
}

// correction returns a new event that corrects target (with fresh data of
// the same type), or retracts it.
func (g *gen) correction(target Msg, retract bool) (Msg, bool) {
	e, err := events.Decode(target.Data)
	if err != nil || e.Retraction() {
		return Msg{}, false
	}
	data := "null"
	prefix := "r"
	if !retract {
		data, prefix = g.data(e.Type), "c"
	}
	return msg(g.id(prefix), e.Type, e.Agency, g.at(), e.ID, data), true
}

func msg(id, typ, agency, at, supersedes, data string) Msg {
	sup := ""
	if supersedes != "" {
		sup = fmt.Sprintf(`"supersedes":%q,`, supersedes)
	}
	body := fmt.Sprintf(`{"id":%q,"type":%q,"v":1,"agency":%q,"occurred_at":%q,%s"data":%s}`, id, typ, agency, at, sup, data)
	return Msg{Subject: events.Subject(agency, typ), Data: []byte(body), MsgID: id, Kind: Valid, ID: id}
}

// invalid returns an event that can never be valid, of a random reason.
func (g *gen) invalid() Msg {
	m := g.event()
	m.Kind, m.ID, m.MsgID = Invalid, "", ""
	body := string(m.Data)
	switch g.rng.IntN(6) {
	case 0: // malformed
		m.Data = []byte(body[:len(body)/2])
	case 1: // unknown type
		m.Data = []byte(strings.Replace(body, `"type":"`, `"type":"x.`, 1))
	case 2: // unknown agency, on its own subject
		e, _ := events.Decode(m.Data)
		m.Data = []byte(strings.Replace(body, `"agency":"`+e.Agency+`"`, `"agency":"bg-nowhere"`, 1))
		m.Subject = events.Subject("bg-nowhere", e.Type)
	case 3: // subject mismatch
		m.Subject = events.Subject("bg-mismatch", "workfile.processed")
	case 4: // missing field
		m.Data = []byte(strings.Replace(body, `"occurred_at"`, `"occurred"`, 1))
	case 5: // too early: 1921 to 1925
		m.Data = []byte(strings.Replace(body, `"occurred_at":"20`, `"occurred_at":"19`, 1))
	}
	return m
}

// Publish publishes msgs in order, asynchronously in windows of 4096, and
// retries a window whose acknowledgements do not all arrive (NATS
// restarting): with Nats-Msg-Id a retry is stored once, and the messages
// without it are duplicates or invalid, which the projector drops whatever
// their number. It returns the last stream sequence acknowledged.
func Publish(ctx context.Context, js jetstream.JetStream, msgs []Msg) (uint64, error) {
	const window = 4096
	var last uint64
	for i := 0; i < len(msgs); {
		j := min(i+window, len(msgs))
		seq, err := publishWindow(ctx, js, msgs[i:j])
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if err != nil {
			continue // retry the window
		}
		last = max(last, seq)
		i = j
	}
	return last, nil
}

func publishWindow(ctx context.Context, js jetstream.JetStream, msgs []Msg) (uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		nm := nats.NewMsg(m.Subject)
		nm.Data = m.Data
		if m.MsgID != "" {
			nm.Header.Set(jetstream.MsgIDHeader, m.MsgID)
		}
		f, err := js.PublishMsgAsync(nm)
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	return pubacks.Await(ctx, futures, 10*time.Second)
}
