package app

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestComponentFailureStopsSystem: a background component that stops with
// an error closes Done at once (no polling), Err names it, /healthz answers
// 503 naming it, and /metrics shows cds_component_failed.
func TestComponentFailureStopsSystem(t *testing.T) {
	sys := mustSystem(t)
	select {
	case <-sys.Done():
		t.Fatalf("Done closed before any failure: %v", sys.Err())
	default:
	}
	sys.Go("simulator", func() error { return errors.New("agency credentials refused") })
	select {
	case <-sys.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed 10s after a component failed")
	}
	if err := sys.Err(); err == nil || err.Error() != "simulator: agency credentials refused" {
		t.Fatalf("Err() = %v", err)
	}
	res, err := http.Get("http://" + sys.API.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || body["failing"] != "simulator" {
		t.Errorf("/healthz: %d %v, want 503 failing simulator", res.StatusCode, body)
	}
	res, err = http.Get("http://" + sys.API.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `cds_component_failed{component="simulator"} 1`) {
		t.Errorf("/metrics has no cds_component_failed for the simulator")
	}
}
