package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// queryKind is one kind of query the readers' step causes, told by its
// text: the API's reads (commit markers, snapshot pairs, silence,
// drill-downs) and the projector's writes and reads.
type queryKind struct {
	slug, name string
	match      func(q string) bool
}

// queryKinds are tried in order; the first that matches names a query.
var queryKinds = []queryKind{
	{"insert", "INSERT (the projector's commits)", func(q string) bool { return strings.HasPrefix(q, "INSERT") }},
	{"system", "system tables", func(q string) bool { return strings.Contains(q, "system.") }},
	{"snapshot", "snapshot pairs (cds.rollup_sums)", func(q string) bool { return strings.Contains(q, "upto_lo") }},
	{"silence", "silence (cds.event_lasts)", func(q string) bool { return strings.Contains(q, "event_lasts") }},
	{"drill_log", "drill log (cds.drill_log)", func(q string) bool { return strings.Contains(q, "drill_log") }},
	{"drill_page", "drill pages (cds.drill_list, cds.drill_days)", func(q string) bool {
		return strings.Contains(q, "drill_list") || strings.Contains(q, "drill_days")
	}},
	{"stream_marks", "the projector's stream markers", func(q string) bool { return strings.Contains(q, "sumIf(") }},
	{"marker_copy", "commit markers (cds.rollup_marks)", func(q string) bool {
		return strings.Contains(q, "rollup_marks") && !strings.Contains(q, "rollup_sums")
	}},
	{"markers", "commit markers (cds.rollup)", func(q string) bool {
		return strings.Contains(q, "GROUP BY unit") && !strings.Contains(q, "rollup_sums")
	}},
	{"watermark", "watermark (cds.rollup)", func(q string) bool { return strings.Contains(q, "toInt64(sum(n))") }},
	{"events", "cds.events", func(q string) bool { return strings.Contains(q, ".events") || strings.Contains(q, "`events`") }},
}

// classifyQuery names q by queryKinds, or by its first words.
func classifyQuery(q string) (slug, name string) {
	q = strings.Join(strings.Fields(q), " ")
	for _, k := range queryKinds {
		if k.match(q) {
			return k.slug, k.name
		}
	}
	if len(q) > 60 {
		q = q[:60]
	}
	return "other", q
}

// queryLogSQL reads the queries that finished in a window of
// system.query_log: their text, rows read, duration and CPU time (user
// and system, µs). ClickHouse 18.16 keeps ProfileEvents as two arrays and
// type as a number; a current ClickHouse as a Map and an Enum: the first
// form that runs is used.
var queryLogSQL = []string{
	`SELECT query, read_rows, query_duration_ms,
       ProfileEvents.Values[indexOf(ProfileEvents.Names, 'UserTimeMicroseconds')] + ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SystemTimeMicroseconds')]
FROM system.query_log WHERE type = 2 AND event_time >= toDateTime(%d) AND event_time < toDateTime(%d)`,
	`SELECT query, read_rows, query_duration_ms,
       ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']
FROM system.query_log WHERE type = 'QueryFinish' AND event_time >= toDateTime(%d) AND event_time < toDateTime(%d)`,
}

// queryLogBreakdown prints, per kind of query (classifyQuery), what
// ClickHouse ran between start and end as system.query_log has it
// (Config.QueryLog): queries, rows read and CPU time, in total and per
// request of the n the readers made; figures with prefix:
// readers_ch_{queries,rows_read,query_cpu_us}_per_request and, per kind,
// readers_ch_<kind>_{queries,cpu_us}_per_request. The window is in whole
// seconds, as event_time is.
func (e *env) queryLogBreakdown(ctx context.Context, prefix string, start, end time.Time, n int) error {
	if n == 0 {
		return nil
	}
	if err := e.db.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return fmt.Errorf("flush system.query_log: %w", err)
	}
	type agg struct {
		slug, name    string
		queries, rows uint64
		ms, cpuUS     uint64
	}
	kinds := map[string]*agg{}
	var total agg
	var err error
	for _, form := range queryLogSQL {
		kinds, total = map[string]*agg{}, agg{}
		err = func() error {
			rows, err := e.db.Query(ctx, fmt.Sprintf(form, start.Unix(), end.Unix()))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var q string
				var read, dur, cpu uint64
				if err := rows.Scan(&q, &read, &dur, &cpu); err != nil {
					return err
				}
				slug, name := classifyQuery(q)
				a := kinds[name]
				if a == nil {
					a = &agg{slug: slug, name: name}
					kinds[name] = a
				}
				for _, x := range []*agg{a, &total} {
					x.queries++
					x.rows += read
					x.ms += dur
					x.cpuUS += cpu
				}
			}
			return rows.Err()
		}()
		if err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("read system.query_log: %w", err)
	}
	per := func(v uint64) float64 { return float64(v) / float64(n) }
	e.Figure(prefix+"readers_ch_queries_per_request", per(total.queries), "")
	e.Figure(prefix+"readers_ch_rows_read_per_request", per(total.rows), "rows")
	e.Figure(prefix+"readers_ch_query_cpu_us_per_request", per(total.cpuUS), "µs")
	list := make([]*agg, 0, len(kinds))
	for _, a := range kinds {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].cpuUS > list[j].cpuUS })
	e.Progressf("  ClickHouse's queries in the window (system.query_log), %d requests:", n)
	perKind := map[string]agg{}
	for _, a := range list {
		e.Progressf("    %-50s %6d queries (%5.2f per request)  %9.0f rows each  %6.1f ms each  CPU %7.1f ms (%4.1f%%, %6.0f µs per request)",
			a.name, a.queries, per(a.queries), float64(a.rows)/float64(a.queries), float64(a.ms)/float64(a.queries),
			float64(a.cpuUS)/1000, 100*float64(a.cpuUS)/max(float64(total.cpuUS), 1), per(a.cpuUS))
		s := perKind[a.slug]
		s.queries += a.queries
		s.cpuUS += a.cpuUS
		perKind[a.slug] = s
	}
	slugs := make([]string, 0, len(perKind))
	for s := range perKind {
		slugs = append(slugs, s)
	}
	sort.Strings(slugs)
	for _, s := range slugs {
		e.Figure(prefix+"readers_ch_"+s+"_queries_per_request", per(perKind[s].queries), "")
		e.Figure(prefix+"readers_ch_"+s+"_cpu_us_per_request", per(perKind[s].cpuUS), "µs")
	}
	return nil
}
