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
func accessFlags(fs *flag.FlagSet, cfg *app.Config, command string) {
	cfg.AnalystPassword = os.Getenv("CDS_ANALYST_PASSWORD")
	if command != "up" && command != "serve" {
		return
	}
	cfg.ReadTokens = splitTokens(os.Getenv("CDS_READ_TOKEN"))
	fs.Var((*tokenList)(&cfg.ReadTokens), "read-token", "read `tokens`, separated by commas: when set, GET /v1/* and /metrics need Authorization: Bearer <one of them>; /healthz stays open (CDS_READ_TOKEN, better than the flag, which ps shows)")
	cfg.Ingest.Rate = envNumber("CDS_INGEST_RATE", float64(ingest.DefaultRate))
	fs.Float64Var(&cfg.Ingest.Rate, "ingest-rate", cfg.Ingest.Rate, "POST /v1/events: events per second per agency; negative = no limit (CDS_INGEST_RATE)")
	cfg.Ingest.Burst = int(envNumber("CDS_INGEST_BURST", ingest.DefaultBurst))
	fs.IntVar(&cfg.Ingest.Burst, "ingest-burst", cfg.Ingest.Burst, "POST /v1/events: events an agency may send at once after a pause, at least the batch limit 1000 (CDS_INGEST_BURST)")
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
func envNumber(key string, def float64) float64 {
	v, ok := os.LookupEnv(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cds: %s=%q is not a number\n", key, v)
		os.Exit(2)
	}
	return f
}

// envDuration is a duration from the environment (e.g. "6s"), or def.
func envDuration(key string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cds: %s=%q is not a duration\n", key, v)
		os.Exit(2)
	}
	return d
}
