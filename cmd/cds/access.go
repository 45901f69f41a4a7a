package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bacgiang/cds/ingest"
	"github.com/bacgiang/cds/internal/app"
)

// accessFlags registers the settings of who may do what: the read token of
// the API and the ingest rate limit for the commands that serve HTTP, and
// the analyst password (environment only) for all. Secrets are best passed
// in the environment: command lines are visible to every user of the host.
func (c *common) accessFlags(fs *flag.FlagSet, command string) {
	cfg := &c.cfg
	cfg.AnalystPassword = os.Getenv("CDS_ANALYST_PASSWORD")
	if command != "up" && command != "serve" && command != "nats" {
		return
	}
	cfg.Ingest.Rate = c.envNumber("CDS_INGEST_RATE", float64(ingest.DefaultRate))
	fs.Float64Var(&cfg.Ingest.Rate, "ingest-rate", cfg.Ingest.Rate, "events per second per agency, over HTTP (POST /v1/events) and over NATS; negative = no limit (CDS_INGEST_RATE)")
	cfg.Ingest.Burst = int(c.envNumber("CDS_INGEST_BURST", ingest.DefaultBurst))
	fs.IntVar(&cfg.Ingest.Burst, "ingest-burst", cfg.Ingest.Burst, "events an agency may send at once after a pause, over HTTP (at least the batch limit 1000) and over NATS (CDS_INGEST_BURST)")
	cfg.Ingest.Agencies = map[string]ingest.Limit{}
	if err := (*agencyLimits)(&cfg.Ingest.Agencies).Set(os.Getenv("CDS_AGENCY_LIMITS")); err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("CDS_AGENCY_LIMITS: %w", err))
	}
	fs.Var((*agencyLimits)(&cfg.Ingest.Agencies), "agency-limits", "per-agency `rates`, over HTTP and NATS: code=rate:burst separated by commas, e.g. bg-ctk=500:5000 (CDS_AGENCY_LIMITS)")
	if command == "nats" {
		return
	}
	cfg.ReadSlots = int(c.envNumber("CDS_READ_SLOTS", 0))
	fs.IntVar(&cfg.ReadSlots, "read-slots", cfg.ReadSlots, "API requests that may read ClickHouse at once; more wait up to 2s, then get 503 with Retry-After; 0 = half the ClickHouse connection pool (CDS_READ_SLOTS)")
	cfg.DrillSlots = int(c.envNumber("CDS_DRILL_SLOTS", 0))
	fs.IntVar(&cfg.DrillSlots, "drill-slots", cfg.DrillSlots, "of the read slots, how many drill-down reads may hold at once, so that score reads keep slots of their own; 0 = a quarter of --read-slots, at least 1 (CDS_DRILL_SLOTS)")
	cfg.ReadTokens = splitTokens(os.Getenv("CDS_READ_TOKEN"))
	fs.Var((*tokenList)(&cfg.ReadTokens), "read-token", "read `tokens`, separated by commas: when set, GET /v1/* and /metrics need Authorization: Bearer <one of them>; /healthz stays open (CDS_READ_TOKEN, better than the flag, which ps shows)")
}

// checkSlots rejects a --read-slots or --drill-slots out of range rather
// than have the admission control replace it silently.
func (c *common) checkSlots() error {
	if n := c.cfg.ReadSlots; n < 0 {
		return fmt.Errorf("--read-slots=%d (CDS_READ_SLOTS): want 0 (half the ClickHouse connection pool) or more", n)
	}
	slots := app.ReadSlots(c.cfg.ReadSlots)
	if n := c.cfg.DrillSlots; n < 0 || n > slots {
		return fmt.Errorf("--drill-slots=%d (CDS_DRILL_SLOTS): want 0 (a quarter of the read slots, at least 1) to the read slots (%d)", n, slots)
	}
	return nil
}

// agencyLimits is a list of code=rate:burst, e.g. bg-ctk=500:5000.
type agencyLimits map[string]ingest.Limit

func (l *agencyLimits) String() string {
	if l == nil {
		return ""
	}
	var parts []string
	for code, lim := range *l {
		parts = append(parts, fmt.Sprintf("%s=%g:%d", code, lim.Rate, lim.Burst))
	}
	return strings.Join(parts, ",")
}

func (l *agencyLimits) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		code, spec, ok := strings.Cut(item, "=")
		r, b, ok2 := strings.Cut(spec, ":")
		rate, err1 := strconv.ParseFloat(r, 64)
		burst, err2 := strconv.Atoi(b)
		if !ok || !ok2 || err1 != nil || err2 != nil || code == "" || burst < 0 {
			return fmt.Errorf("agency limit %q: want code=rate:burst, e.g. bg-ctk=500:5000", item)
		}
		(*l)[code] = ingest.Limit{Rate: rate, Burst: burst}
	}
	return nil
}

// tokenList is a comma-separated list of secrets; it never prints them.
type tokenList []string

func (l *tokenList) String() string { return "" }

func (l *tokenList) Set(s string) error {
	*l = splitTokens(s)
	return nil
}

func splitTokens(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// envNumber returns the number in the environment variable key, or def when
// it is unset. A value that is not a number stops the command, as a bad flag
// value would.
func (c *common) envNumber(key string, def float64) float64 {
	v, ok := os.LookupEnv(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q is not a number", key, v))
		return def
	}
	return f
}

// envDuration is a duration from the environment (e.g. "6s"), or def.
func (c *common) envDuration(key string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q is not a duration", key, v))
		return def
	}
	return d
}
