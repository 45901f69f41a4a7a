package main

import (
	"context"
	"strings"
	"testing"

	"github.com/bacgiang/cds/internal/app"
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
