package chdb

import (
	"fmt"
	"testing"
)

// TestTruncateJustCreated: a replicated table truncated the moment it is
// created, on each of two replicas in turn, as migration 0018 did to
// 0017's table. 18.16 refuses such a TRUNCATE with LEADERSHIP_CHANGED
// (code 292) while the new table's leader election settles (a plain Exec
// failed on the first table here); truncate waits it out.
func TestTruncateJustCreated(t *testing.T) {
	ctx, c, db := openTwoReplicas(t)
	for _, h := range c.Addrs() {
		r, err := db.OpenHost(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Exec(ctx, "CREATE DATABASE IF NOT EXISTS cds"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		table := fmt.Sprintf("just_created_%d", i)
		create, err := Replicated("CREATE TABLE IF NOT EXISTS {db}."+table+" (n UInt64) ENGINE = MergeTree() ORDER BY n", "cds")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range c.Addrs() {
			r, err := db.OpenHost(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Exec(ctx, replaceDB(create, "cds")); err != nil {
				t.Fatal(err)
			}
			if err := r.truncate(ctx, table); err != nil {
				t.Errorf("replica %s: %v", h, err)
			}
			r.Close()
		}
	}
}
