package chdb

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// BenchmarkDrillListView times a commit's drill-down rows (5,000 events'
// worth, as a batch of BatchMax writes: a new entry for each, a moved
// neighbour for half, the tables' markers) written two ways, alternately,
// into two databases of one server: into cds.drill_log, whose view fills
// cds.drill_list (InsertDrill, migrations/0023), and as before the view,
// into cds.drill_log and then cds.drill_list in an INSERT of its own (the
// view dropped); cds.drill_days in its INSERT both ways. Besides the
// client's time, the server's CPU time in the INSERTs' threads
// (system.events' OSCPUVirtualTimeMicroseconds: merges, in threads of
// their own, are not counted; they merge the same parts both ways).
func BenchmarkDrillListView(b *testing.B) {
	srv := chtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	open := func(name string) *DB {
		db, err := Open(ctx, Config{Addr: srv.Addr(), Database: name})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		return db
	}
	view, old := open("cds_view"), open("cds_two_inserts")
	if err := old.Exec(ctx, "DROP TABLE "+old.Table("drill_list_view")); err != nil {
		b.Fatal(err)
	}
	serverCPU := func() time.Duration {
		var us uint64
		if err := view.QueryRow(ctx, "SELECT value FROM system.events WHERE event = 'OSCPUVirtualTimeMicroseconds'").Scan(&us); err != nil {
			b.Fatal(err)
		}
		return time.Duration(us) * time.Microsecond
	}
	rng := rand.New(rand.NewPCG(26, 1))
	var seq, marked uint64
	var wall, cpu [2]time.Duration
	for b.Loop() {
		var d DrillColumns
		for range 5000 {
			seq++
			at := uint32(time.Date(2021, 6, 11, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(1480*24)) * time.Hour).Unix())
			agency := "bg-u" + string(rune('a'+rng.IntN(26)))
			d.Add("workfile", agency, at, DrillNoNext, at, rng.Uint64(), false, seq)
			if rng.IntN(2) == 0 {
				d.Add("workfile", agency, at-3600, at, DrillNoNext, rng.Uint64(), false, seq)
			}
		}
		d.AddMarker(seq, marked)
		marked = seq
		ways := []int{0, 1}
		if seq/5000%2 == 1 {
			ways = []int{1, 0} // each way first in half the rounds
		}
		for _, way := range ways {
			t0, c0 := time.Now(), serverCPU()
			switch way {
			case 0:
				if err := view.InsertDrill(ctx, "", &d); err != nil {
					b.Fatal(err)
				}
			case 1:
				if err := old.insertDrillLog(ctx, "", &d); err != nil {
					b.Fatal(err)
				}
				if err := old.insertDrillList(ctx, "", &d); err != nil {
					b.Fatal(err)
				}
				if err := old.insertDrillDays(ctx, "", &d); err != nil {
					b.Fatal(err)
				}
			}
			wall[way] += time.Since(t0)
			cpu[way] += serverCPU() - c0
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(wall[0].Microseconds())/1000/n, "ms_view/op")
	b.ReportMetric(float64(wall[1].Microseconds())/1000/n, "ms_two_inserts/op")
	b.ReportMetric(float64(cpu[0].Microseconds())/1000/n, "server_cpu_ms_view/op")
	b.ReportMetric(float64(cpu[1].Microseconds())/1000/n, "server_cpu_ms_two_inserts/op")
	b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "server_cpu_view_vs_two_inserts")
}
