package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// threadCPU reads the user and system CPU time of each thread of pid,
// summed per thread name (/proc/<pid>/task/*/stat).
func threadCPU(pid int) (map[string][2]time.Duration, error) {
	dirs, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
	if err != nil {
		return nil, err
	}
	m := map[string][2]time.Duration{}
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		name := s[i+1 : j]
		f := strings.Fields(s[j+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		t := m[name]
		t[0] += time.Duration(u) * clockTick
		t[1] += time.Duration(k) * clockTick
		m[name] = t
	}
	return m, nil
}

// threadDelta formats the CPU time per thread name between a and b, the
// largest first.
func threadDelta(a, b map[string][2]time.Duration) string {
	type row struct {
		name      string
		user, sys time.Duration
	}
	var rows []row
	for n, t := range b {
		d := row{n, t[0] - a[n][0], t[1] - a[n][1]}
		if d.user+d.sys > 0 {
			rows = append(rows, d)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].user+rows[i].sys > rows[j].user+rows[j].sys })
	var sb strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&sb, " %s %.1f+%.1fs", r.name, r.user.Seconds(), r.sys.Seconds())
	}
	return sb.String()
}

// chActivity counts the merges running and the inactive parts (merged
// away, awaiting removal) on the server.
func (e *env) chActivity(ctx context.Context) (merges, inactive uint64, err error) {
	rows, err := e.db.Query(ctx, "SELECT (SELECT count() FROM system.merges), (SELECT count() FROM system.parts WHERE active = 0)")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&merges, &inactive); err != nil {
			return 0, 0, err
		}
	}
	return merges, inactive, rows.Err()
}

// chProbe prints, for diagnosis, the server's merges, inactive parts and
// CPU over a window of d.
func (e *env) chProbe(ctx context.Context, label string, d time.Duration) {
	if e.chPID == 0 {
		return
	}
	m, in, err := e.chActivity(ctx)
	c0, _ := procCPU(e.chPID)
	t0, _ := threadCPU(e.chPID)
	time.Sleep(d)
	c1, _ := procCPU(e.chPID)
	t1, _ := threadCPU(e.chPID)
	e.Progressf("  probe %s: merges %d, inactive parts %d (err %v), ClickHouse CPU %.0f%% over %s:%s",
		label, m, in, err, 100*(c1-c0).Seconds()/d.Seconds(), d, threadDelta(t0, t1))
}
