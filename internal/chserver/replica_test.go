package chserver

import (
	"strings"
	"testing"
)

func TestReplicaDefaultsAndRefusals(t *testing.T) {
	ok := Replica{Cluster: "cds", Name: "r1", ZooKeeper: []string{"127.0.0.1:2181"}, Hosts: []string{"127.0.0.1:9000", "127.0.0.1:9010"}}
	got, err := ok.withDefaults("127.0.0.1:9010")
	if err != nil {
		t.Fatal(err)
	}
	if got.Shard != "1" || got.InterserverAddr != "127.0.0.1:9019" {
		t.Errorf("defaults: shard %q interserver %q, want 1 and 127.0.0.1:9019", got.Shard, got.InterserverAddr)
	}
	tests := []struct {
		name    string
		edit    func(*Replica)
		tcp     string
		wantErr string
	}{
		{"cluster not an identifier", func(r *Replica) { r.Cluster = "a-b" }, "127.0.0.1:9000", "cluster name"},
		{"no replica name", func(r *Replica) { r.Name = "" }, "127.0.0.1:9000", "replica name"},
		{"no zookeeper", func(r *Replica) { r.ZooKeeper = nil }, "127.0.0.1:9000", "ZooKeeper"},
		{"bad zookeeper", func(r *Replica) { r.ZooKeeper = []string{"zk"} }, "127.0.0.1:9000", "zookeeper address"},
		{"no hosts", func(r *Replica) { r.Hosts = nil }, "127.0.0.1:9000", "replica addresses"},
		{"wildcard listen", func(r *Replica) {}, "0.0.0.0:9000", "--clickhouse-interserver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			_, err := r.withDefaults(tt.tcp)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestServerConfigOfReplica(t *testing.T) {
	r, err := Replica{Cluster: "cds", Name: "r2", ZooKeeper: []string{"10.0.0.5:2181"}, Hosts: []string{"10.0.0.1:9000", "10.0.0.2:9000"}}.withDefaults("10.0.0.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	xml := string(serverConfig(layout{root: "/d"}, "id", []string{"10.0.0.2"}, 9000, 8123, &r, false))
	for _, want := range []string{
		"<interserver_http_port>9009</interserver_http_port>",
		"<interserver_http_host>10.0.0.2</interserver_http_host>",
		"<host>10.0.0.5</host>",
		"<cds>",
		"<internal_replication>true</internal_replication>",
		"<replica>r2</replica>",
		"<shard>1</shard>",
	} {
		if !strings.Contains(xml, want) {
			t.Errorf("config.xml lacks %s:\n%s", want, xml)
		}
	}
	plain := string(serverConfig(layout{root: "/d"}, "id", []string{"127.0.0.1"}, 9000, 8123, nil, false))
	if strings.Contains(plain, "zookeeper") || strings.Contains(plain, "interserver") {
		t.Errorf("a server without Replica got replica settings:\n%s", plain)
	}
}

func TestServiceUser(t *testing.T) {
	local := string(usersConfig(1<<30, "analyst", "", "cds", "", false))
	if !strings.Contains(local, "<cds>") || strings.Contains(local, "::/0") {
		t.Errorf("service user without a password: want it defined, localhost only:\n%s", local)
	}
	remote := string(usersConfig(1<<30, "analyst", "", "cds", "secret", false))
	if strings.Contains(remote, "secret") || !strings.Contains(remote, "::/0") || !strings.Contains(remote, "password_sha256_hex") {
		t.Errorf("service user with a password: want its hash only, from any address:\n%s", remote)
	}
}
