package bench

import (
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/registry"
)

// event is one generated event: its agency, type and JSON body.
type event struct {
	id, agency, typ string
	body            []byte
}

// generator makes valid events over 2021-2025 from every unit of the
// registry: mostly work dossiers, with services, reports and inspections.
type generator struct {
	rng   *rand.Rand
	units []string
	n     int
	base  time.Time
	span  int
}

func newGenerator(reg *registry.Registry, seed uint64) *generator {
	base := time.Date(2021, 6, 11, 8, 0, 0, 0, events.Zone)
	return &generator{
		rng: rand.New(rand.NewPCG(seed, 42)), units: reg.Codes(), base: base,
		// Up to 2025-06-30, the last day every unit of the shipped registry
		// is in force: a district's later event is refused (unit_not_in_force).
		span: int(time.Date(2025, 6, 30, 23, 0, 0, 0, events.Zone).Sub(base) / time.Second),
	}
}

func (g *generator) next(agency string, at time.Time) event {
	g.n++
	i, rng := g.n, g.rng
	if agency == "" {
		agency = g.units[rng.IntN(len(g.units))]
	}
	if at.IsZero() {
		at = g.base.Add(time.Duration(rng.IntN(g.span)) * time.Second)
	}
	id := fmt.Sprintf("b%09d-%016x", i, rng.Uint64())
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
	body := fmt.Sprintf(`{"id":%q,"type":%q,"v":1,"agency":%q,"occurred_at":%q,"data":%s}`, id, typ, agency, at.Format(time.RFC3339), data)
	return event{id: id, agency: agency, typ: typ, body: []byte(body)}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
