package board

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

type noTrends struct{}

func (noTrends) UnitTrends(context.Context, string, int, registry.Date) (map[string][]TrendPoint, error) {
	return nil, nil
}

// TestFailClientGone: a request whose client went away (a read of a page
// admitted per read cancelled while it queued) gets the busy page and no
// error log; any other failure is a 500, logged.
func TestFailClientGone(t *testing.T) {
	var logs bytes.Buffer
	b, err := New(Config{Engine: &scores.Engine{Catalog: catalog.Default(), Registry: registry.Sample()}, Trends: noTrends{}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		err    error
		status int
		logged bool
	}{
		{"client gone", gone, fmt.Errorf("drill-down: %w", context.Canceled), http.StatusServiceUnavailable, false},
		{"cancelled read, client still there", context.Background(), fmt.Errorf("read: %w", context.Canceled), http.StatusServiceUnavailable, false},
		{"client gone, another error", gone, errors.New("clickhouse: read: broken pipe"), http.StatusServiceUnavailable, false},
		{"failure", context.Background(), errors.New("clickhouse: boom"), http.StatusInternalServerError, true},
	} {
		logs.Reset()
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/units/bg/HSCV", nil).WithContext(tt.ctx)
		b.fail(w, r, tt.err)
		if w.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, w.Code, tt.status)
		}
		if logged := bytes.Contains(logs.Bytes(), []byte("request failed")); logged != tt.logged {
			t.Errorf("%s: logged %t, want %t (%s)", tt.name, logged, tt.logged, logs.String())
		}
	}
}
