package zktest

import (
	"context"
	"testing"

	"github.com/bacgiang/cds/internal/zkserver"
)

func TestStartAnswersAndStops(t *testing.T) {
	srv := Start(t)
	if err := zkserver.Ruok(context.Background(), srv.Addr()); err != nil {
		t.Fatalf("ruok: %v", err)
	}
	if err := zkserver.Serving(context.Background(), srv.Addr()); err != nil {
		t.Fatalf("started but not serving: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := zkserver.Ruok(context.Background(), srv.Addr()); err == nil {
		t.Fatal("ruok answered after Close")
	}
}
