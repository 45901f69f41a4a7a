package catalog

import (
	"slices"
	"testing"

	"github.com/bacgiang/cds/events"
)

// TestFeedsAgreeWithEventTable: the shipped catalogue and the event table
// (events/types.go) agree on which event types feed which indicator: every
// indicator of the catalogue is fed, every indicator the table feeds is in
// the catalogue, and each indicator's feeds are exactly the types of the
// entity it counts.
func TestFeedsAgreeWithEventTable(t *testing.T) {
	c := Default()
	for _, ind := range c.Indicators() {
		f, ok := events.FeedingOf(ind.Code)
		if !ok {
			t.Errorf("%s: no event type feeds it", ind.Code)
			continue
		}
		if !slices.Equal(ind.Feeds, f.Types) {
			t.Errorf("%s: catalogue feeds %v, event table %v", ind.Code, ind.Feeds, f.Types)
		}
	}
	for _, spec := range events.Types() {
		for _, code := range spec.FeedsOf() {
			ind, ok := c.Indicator(code)
			if !ok {
				t.Errorf("%s feeds %s, which the catalogue does not have", spec.Name, code)
				continue
			}
			if !slices.Contains(ind.Feeds, spec.Name) {
				t.Errorf("%s feeds %s, whose catalogue feeds %v leave it out", spec.Name, code, ind.Feeds)
			}
		}
	}
}
