package board_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/app/apptest"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/registry"
)

// mustSystem runs NATS, projector and API (with the board) against a fresh
// clickhouse-server.
func mustSystem(tb testing.TB) *app.System {
	tb.Helper()
	return apptest.Start(tb, slog.LevelWarn, nil)
}

// publishAll publishes every event as its agency, with the agency's own
// NATS credentials, and waits until the projector folded them all.
func publishAll(tb testing.TB, sys *app.System, lines []string) {
	tb.Helper()
	f, err := credentials.LoadFile(sys.Config.DataDir)
	if err != nil {
		tb.Fatal(err)
	}
	conns := map[string]jetstream.JetStream{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var futures []jetstream.PubAckFuture
	for _, line := range lines {
		var env struct{ ID, Agency, Type string }
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			tb.Fatal(err)
		}
		js, ok := conns[env.Agency]
		if !ok {
			nc, err := nats.Connect(sys.NATSURL(), nats.UserInfo(env.Agency, f.Agencies[env.Agency].NATSPassword), nats.CustomInboxPrefix("_INBOX."+env.Agency))
			if err != nil {
				tb.Fatalf("connect as %s: %v", env.Agency, err)
			}
			tb.Cleanup(nc.Close)
			if js, err = jetstream.New(nc); err != nil {
				tb.Fatal(err)
			}
			conns[env.Agency] = js
		}
		msg := nats.NewMsg("cds.events." + env.Agency + "." + env.Type)
		msg.Data = []byte(line)
		msg.Header.Set(jetstream.MsgIDHeader, env.ID)
		fut, err := js.PublishMsgAsync(msg)
		if err != nil {
			tb.Fatalf("publish %s: %v", env.ID, err)
		}
		futures = append(futures, fut)
	}
	for _, fut := range futures {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			tb.Fatalf("publish: %v", err)
		case <-ctx.Done():
			tb.Fatal("publish: no ack")
		}
	}
	apptest.WaitCaughtUp(tb, sys)
}

// provinceFixture makes a deterministic province: every department,
// district and commune publishes services, work dossiers, reports and
// inspections from mid-2023 to as_of with a share of its own, some stop
// reporting three months before, some never inspect (no data, not zero);
// the statistics office, the planning department and the information
// department report the province-wide figures.
func provinceFixture(reg *registry.Registry, asOf registry.Date) []string {
	rng := rand.New(rand.NewPCG(7, 11))
	var out []string
	n := 0
	ev := func(agency, typ string, at time.Time, data string) {
		n++
		out = append(out, fmt.Sprintf(`{"id":"fx-%05d","type":%q,"v":1,"agency":%q,"occurred_at":%q,"data":%s}`, n, typ, agency, at.Format(time.RFC3339), data))
	}
	day := func(d registry.Date, hour int) time.Time { return d.Start().Add(time.Duration(hour) * time.Hour) }
	start := registry.NewDate(2023, 7, 1)
	for i, u := range reg.InForce(asOf) {
		if u.Level == registry.LevelProvince {
			continue
		}
		share := 0.45 + 0.55*rng.Float64() // how good this unit is
		silentFrom := asOf.AddDays(1)
		if i%9 == 4 {
			silentFrom = asOf.AddDays(-90) // stopped reporting
		}
		for s := 0; s < 5; s++ {
			level := 3
			if rng.Float64() < share+0.2 {
				level = 4
			}
			ev(u.Code, "service.published", day(registry.NewDate(2022, time.Month(1+s), 10), 9), fmt.Sprintf(`{"service_code":"%s.%d","level":%d,"mobile":%t}`, u.Code, s, level, rng.Float64() < share))
		}
		for d := start; d.Before(asOf) && d.Before(silentFrom); d = d.AddDays(15) {
			for k := 0; k < 2; k++ {
				ev(u.Code, "workfile.processed", day(d, 8+k), fmt.Sprintf(`{"workfile_id":"%s-%d","online":%t}`, u.Code, n, rng.Float64() < share))
			}
			if (d.Sub(start)/15)%2 == 0 {
				ev(u.Code, "report.submitted", day(d, 14), fmt.Sprintf(`{"report_id":"%s-r%d","regime":"monthly","via_system":%t}`, u.Code, n, rng.Float64() < share+0.1))
				if i%7 != 3 { // some units never inspect digitally or not: no data
					ev(u.Code, "inspection.completed", day(d, 15), fmt.Sprintf(`{"inspection_id":"%s-i%d","digital":%t}`, u.Code, n, rng.Float64() < share))
				}
			}
		}
		if u.Level == registry.LevelDepartment && i%2 == 0 {
			ev(u.Code, "opendata.published", day(registry.NewDate(2024, 3, 1+i%20), 10), fmt.Sprintf(`{"dataset_id":"%s-ds","title":"Dữ liệu mở %s"}`, u.Code, u.Code))
		}
	}
	for d := start; d.Before(asOf); d = d.AddDays(10) {
		ev("bg-skhdt", "enterprise.registered", day(d, 11), fmt.Sprintf(`{"enterprise_id":"E%d","digital":%t}`, n, rng.Float64() < 0.8))
		ev("bg-vietyen", "auth.recorded", day(d, 12), fmt.Sprintf(`{"session_id":"S%d","user_kind":"citizen","authenticated":%t}`, n, rng.Float64() < 0.7))
	}
	for _, r := range []struct {
		y int
		g [2]float64
	}{{2022, [2]float64{180, 30}}, {2023, [2]float64{200, 38}}, {2024, [2]float64{230, 48}}} {
		y, g := r.y, r.g
		ev("bg-ctk", "economy.grdp_reported", day(registry.NewDate(y+1, 2, 20), 9), fmt.Sprintf(`{"year":%d,"grdp_total":%g,"digital_economy":%g,"sectors":[{"sector":"health","total":20,"digital":%g},{"sector":"agriculture","total":40,"digital":%g}]}`, y, g[0], g[1], 2+float64(y-2022), 3+float64(y-2022)*1.5))
		ev("bg-ctk", "economy.productivity_reported", day(registry.NewDate(y+1, 2, 25), 9), fmt.Sprintf(`{"year":%d,"labour_productivity":%g}`, y, 100*(1+0.11*float64(y-2021))))
		ev("bg-stttt", "dti.published", day(registry.NewDate(y+1, 5, 1), 9), fmt.Sprintf(`{"year":%d,"rank":%d,"score":0.6}`, y, 30-5*(y-2021)))
	}
	return out
}

// getJSON decodes the JSON answer of url into v.
func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("GET %s: %v in %s", url, err, b)
	}
}
