package events

import (
	"bytes"
	"encoding/json"
	flagpkg "flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flagpkg.Bool("update", false, "rewrite docs/schemas from the type table")

// TestExamplesDecode: every type has an example, and the example is valid
// data of its type in an envelope Decode accepts.
func TestExamplesDecode(t *testing.T) {
	for _, spec := range Types() {
		t.Run(spec.Name, func(t *testing.T) {
			ex := spec.Example()
			if len(ex) == 0 {
				t.Fatal("no example")
			}
			env := `{"id":"ex-1","type":"` + spec.Name + `","v":1,"agency":"bg-ctk","occurred_at":"2025-03-14T09:30:00+07:00","data":` + string(ex) + `}`
			e, err := Decode([]byte(env))
			if err != nil {
				t.Fatalf("Decode(%s): %v", env, err)
			}
			var got, want any
			if err := json.Unmarshal(e.Data, &got); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(ex, &want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if !bytes.Equal(gb, wb) {
				t.Errorf("decoded data %s, want %s", gb, wb)
			}
			s := spec.DataSchema()
			if exs, ok := s["examples"].([]json.RawMessage); !ok || len(exs) != 1 || !bytes.Equal(exs[0], ex) {
				t.Errorf("schema examples = %v, want [%s]", s["examples"], ex)
			}
			req, _ := s["required"].([]string)
			var n int
			for _, f := range spec.Fields {
				if f.Required {
					n++
				}
			}
			if len(req) != n {
				t.Errorf("schema requires %v, the table %d fields", req, n)
			}
		})
	}
}

// TestSchemasInDocs: docs/schemas holds the generated schema of every type,
// and nothing else; go test ./events -run SchemasInDocs -update rewrites it.
func TestSchemasInDocs(t *testing.T) {
	dir := filepath.Join("..", "docs", "schemas")
	want := map[string]bool{}
	for _, spec := range Types() {
		name := spec.Name + ".json"
		want[name] = true
		path := filepath.Join(dir, name)
		gen := spec.DataSchemaJSON()
		if *update {
			if err := os.WriteFile(path, gen, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (go test ./events -run SchemasInDocs -update writes it)", err)
			continue
		}
		if !bytes.Equal(got, gen) {
			t.Errorf("%s differs from the type table's schema (go test ./events -run SchemasInDocs -update rewrites it)", path)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("%s is the schema of no event type", f)
		}
	}
}
