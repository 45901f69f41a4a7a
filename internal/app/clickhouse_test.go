package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClickHouseCommand(t *testing.T) {
	base := func(t *testing.T) Config {
		c := Defaults()
		c.DataDir = t.TempDir()
		c.ClickHouseTCP, c.ClickHouseHTTP = "127.0.0.1:9010", "127.0.0.1:8133"
		return c
	}
	full := ReplicaSettings{ZooKeeper: "127.0.0.1:2181", Replica: "r2", ClusterHosts: "127.0.0.1:9000,127.0.0.1:9010"}
	tests := []struct {
		name    string
		cluster string
		rs      ReplicaSettings
		wantErr string
	}{
		{"replica", "cds", full, ""},
		{"single server", "", ReplicaSettings{}, ""},
		{"no zookeeper", "cds", ReplicaSettings{Replica: "r2"}, "--zookeeper"},
		{"no replica name", "cds", ReplicaSettings{ZooKeeper: "127.0.0.1:2181"}, "--replica"},
		{"replica settings without a cluster", "", full, "--clickhouse-cluster"},
		{"bad cluster name", "c-1", full, "cluster name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base(t)
			cfg.ClickHouseCluster = tt.cluster
			argv, err := ClickHouseCommand(cfg, tt.rs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(cfg.DataDir, "clickhouse", "config.xml")
			if argv[len(argv)-1] != "--config-file="+conf {
				t.Fatalf("argv %v, want it to end with --config-file=%s", argv, conf)
			}
			b, err := os.ReadFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(b), "<replica>r2</replica>") && strings.Contains(string(b), "<interserver_http_port>9019</interserver_http_port>"); got != (tt.cluster != "") {
				t.Errorf("config.xml has the replica's macro and interserver port: %v, want %v", got, tt.cluster != "")
			}
			users, err := os.ReadFile(filepath.Join(cfg.DataDir, "clickhouse", "users.xml"))
			if err != nil || !strings.Contains(string(users), "<"+ServiceUser+">") {
				t.Errorf("users.xml lacks the user %s (%v)", ServiceUser, err)
			}
		})
	}
}
