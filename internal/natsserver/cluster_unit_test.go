package natsserver

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func TestParseRoutes(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
		wantErr  string
	}{
		{name: "empty", in: ""},
		{name: "three with spaces", in: "nats-route://a:6222, nats-route://b:6222,nats-route://c:6222", want: 3},
		{name: "wrong scheme", in: "http://a:6222", wantErr: "expected nats-route://host:port"},
		{name: "no port", in: "nats-route://a", wantErr: "expected nats-route://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRoutes(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRoutes(%q) = %v, want an error containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ParseRoutes(%q) = %v, %v; want %d routes", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestClusterDefaults(t *testing.T) {
	tests := []struct {
		name                string
		sync                string
		replicas            int
		clustered           bool
		wantAlways          bool
		wantInterval        time.Duration
		wantReplicas        int
		wantSyncErr, wantRE bool
	}{
		{name: "single server", wantInterval: DefaultSyncInterval, wantReplicas: 1},
		{name: "cluster", clustered: true, wantAlways: true, wantReplicas: 3},
		{name: "cluster told otherwise", clustered: true, sync: "2s", replicas: 5, wantInterval: 2 * time.Second, wantReplicas: 5},
		{name: "always on a single server", sync: "always", wantAlways: true, wantReplicas: 1},
		{name: "bad interval", sync: "-1s", wantSyncErr: true, wantReplicas: 1},
		{name: "six replicas", replicas: 6, wantInterval: DefaultSyncInterval, wantRE: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			always, interval, err := ParseSyncInterval(tt.sync, tt.clustered)
			if (err != nil) != tt.wantSyncErr || (err == nil && (always != tt.wantAlways || interval != tt.wantInterval)) {
				t.Errorf("ParseSyncInterval(%q, %v) = %v, %v, %v", tt.sync, tt.clustered, always, interval, err)
			}
			n, err := Replicas(tt.replicas, tt.clustered)
			if (err != nil) != tt.wantRE || (err == nil && n != tt.wantReplicas) {
				t.Errorf("Replicas(%d, %v) = %d, %v", tt.replicas, tt.clustered, n, err)
			}
		})
	}
}

func TestClusterNeedsNameAndListen(t *testing.T) {
	routes := []string{"nats-route://127.0.0.1:6222"}
	tests := []struct {
		name, server string
		cluster      Cluster
		wantErr      string
	}{
		{name: "no server name", cluster: Cluster{Listen: "127.0.0.1:6222", Routes: routes}, wantErr: "--server-name"},
		{name: "no listen", server: "n1", cluster: Cluster{Routes: routes}, wantErr: "--cluster-listen"},
		{name: "bad listen", server: "n1", cluster: Cluster{Listen: "nowhere"}, wantErr: "cluster listen"},
		{name: "default name", server: "n1", cluster: Cluster{Listen: "127.0.0.1:6222", Routes: routes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o server.Options
			err := tt.cluster.apply(&o, tt.server)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("apply = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || o.Cluster.Name != DefaultClusterName || o.Cluster.Port != 6222 || len(o.Routes) != 1 {
				t.Fatalf("apply = %v; cluster %+v, routes %v", err, o.Cluster, o.Routes)
			}
		})
	}
}
