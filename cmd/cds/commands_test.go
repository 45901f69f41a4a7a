package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/projector"
)

func TestRunParses(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // "" = no error
	}{
		{name: "help", args: []string{"help"}},
		{name: "a command's -h", args: []string{"serve", "-h"}},
		{name: "a subcommand's -h", args: []string{"dlq", "list", "-h"}},
		{name: "unknown command", args: []string{"fly"}, wantErr: `unknown command "fly"`},
		{name: "bad flag", args: []string{"serve", "--no-such-flag"}, wantErr: "no-such-flag"},
		{name: "bad number in the environment", args: []string{"serve"}, env: map[string]string{"CDS_INGEST_RATE": "fast"}, wantErr: `CDS_INGEST_RATE="fast" is not a number`},
		{name: "bad duration in the environment", args: []string{"serve"}, env: map[string]string{"CDS_HISTORY_INTERVAL": "soon"}, wantErr: `CDS_HISTORY_INTERVAL="soon" is not a duration`},
		{name: "bad agency limits in the environment", args: []string{"nats"}, env: map[string]string{"CDS_AGENCY_LIMITS": "bg-ctk"}, wantErr: "CDS_AGENCY_LIMITS"},
		{name: "bad log level", args: []string{"serve", "--log", "loud"}, wantErr: "-log"},
		{name: "a route that is not nats-route", args: []string{"nats", "--routes", "http://a:6222"}, wantErr: "-routes"},
		{name: "too many replicas", args: []string{"nats", "--replicas", "7"}, wantErr: "-replicas"},
		{name: "bad sync interval", args: []string{"nats", "--sync-interval", "sometimes"}, wantErr: "-sync-interval"},
		{name: "a projector's memory budget below its least", args: []string{"projector", "--memory-limit-mb", "200"}, env: map[string]string{"GOMEMLIMIT": ""}, wantErr: "--memory-limit-mb=200: want at least 208"},
		{name: "negative read slots", args: []string{"serve", "--read-slots", "-1"}, wantErr: "--read-slots=-1 (CDS_READ_SLOTS): want 0"},
		{name: "negative drill slots", args: []string{"up", "--drill-slots", "-2"}, wantErr: "--drill-slots=-2 (CDS_DRILL_SLOTS): want 0"},
		{name: "drill slots above the read slots", args: []string{"serve", "--read-slots", "4", "--drill-slots", "5"}, wantErr: "to the read slots (4)"},
		{name: "drill slots in the environment above the read slots", args: []string{"serve"}, env: map[string]string{"CDS_READ_SLOTS": "2", "CDS_DRILL_SLOTS": "3"}, wantErr: "--drill-slots=3"},
		{name: "bad replicas in the environment", args: []string{"nats"}, env: map[string]string{"CDS_NATS_REPLICAS": "three"}, wantErr: `CDS_NATS_REPLICAS="three" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			err := run(context.Background(), tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run(%q) = %v, want nil", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestNATSClientURL(t *testing.T) {
	tests := []struct {
		name string
		cfg  app.Config
		want string
	}{
		{name: "given", cfg: app.Config{NATSURL: "nats://nats.bacgiang.example:4222", NATSAddr: "127.0.0.1:4222"}, want: "nats://nats.bacgiang.example:4222"},
		{name: "embedded", cfg: app.Config{NATSAddr: "127.0.0.1:14222"}, want: "nats://127.0.0.1:14222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.NATSClientURL(); got != tt.want {
				t.Errorf("NATSClientURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNATSConfig(t *testing.T) {
	var out strings.Builder
	if err := runNATSConfig(&out, []string{"--data", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accounts {", `"AGENCY_bg-vietyen"`, `{ service: { account: CDS, subject: "cds.events.bg-ctk.>" } }`, `user: "cds-projector"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("cds nats config lacks %s", want)
		}
	}
}

// TestNATSStreams: cds nats streams creates the streams and the lease
// bucket on a server it does not run, as the projector's user.
func TestNATSStreams(t *testing.T) {
	dir := t.TempDir()
	_, h, err := credentials.Ensure(dir, []string{"bg-vietyen"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Config{Addr: "127.0.0.1:-1", StoreDir: t.TempDir(), Hashes: h})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := runNATSStreams(ctx, []string{"--data", dir, "--nats", srv.ClientURL(), "--log", "warn"}); err != nil {
		t.Fatal(err)
	}
	nc, err := app.ConnectService(srv.ClientURL(), dir, credentials.ServiceProjector, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{natsserver.EventsStream, natsserver.DeadLetterStream, "KV_" + projector.LeaseBucket} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := runNATSStreams(ctx, []string{"--data", dir, "--nats", srv.ClientURL(), "--replicas", "9"}); err == nil {
		t.Error("9 replicas accepted")
	}
}
