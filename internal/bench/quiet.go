package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// threadTimes is the user and system CPU time of a process's threads,
// summed per thread name.
type threadTimes map[string]struct{ user, sys time.Duration }

// threadCPU reads /proc/<pid>/task/*/stat.
func threadCPU(pid int) threadTimes {
	paths, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
	m := threadTimes{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		name, user, sys, ok := parseTaskStat(string(b))
		if !ok {
			continue
		}
		t := m[name]
		t.user += user
		t.sys += sys
		m[name] = t
	}
	return m
}

// parseTaskStat reads a thread's name and its user and system CPU time
// from the text of /proc/<pid>/task/<tid>/stat.
func parseTaskStat(s string) (name string, user, sys time.Duration, ok bool) {
	// The name (field 2) may hold spaces and parentheses: up to the last ')'.
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return "", 0, 0, false
	}
	f := strings.Fields(s[j+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return "", 0, 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return s[i+1 : j], time.Duration(u) * clockTick, time.Duration(k) * clockTick, true
}

// since formats the CPU time per thread name from t0 to t, user+system in
// seconds, the largest first; names with none are left out.
func (t threadTimes) since(t0 threadTimes) string {
	type row struct {
		name      string
		user, sys time.Duration
	}
	var rows []row
	for n, v := range t {
		r := row{n, v.user - t0[n].user, v.sys - t0[n].sys}
		if r.user+r.sys > 0 {
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if a, b := rows[i].user+rows[i].sys, rows[j].user+rows[j].sys; a != b {
			return a > b
		}
		return rows[i].name < rows[j].name
	})
	var sb strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&sb, " %s %.1f+%.1f s", r.name, r.user.Seconds(), r.sys.Seconds())
	}
	return sb.String()
}

// vmCounters reads the machine's direct-reclaim counters from
// /proc/vmstat: pages scanned by allocating processes themselves (which
// count as their system time) and the number of stalls.
func vmCounters() (scanDirect, allocStall int64) {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case k == "pgscan_direct":
			scanDirect += n
		case strings.HasPrefix(k, "allocstall"):
			allocStall += n
		}
	}
	return scanDirect, allocStall
}

// loadAverage is the first field of /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
