package projtest

import (
	"slices"
	"testing"
)

func TestPageOffsets(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{0, []int{0}},
		{1, []int{0}},
		{drillPage, []int{0}},
		{drillPage + 1, []int{0, (drillPage + 1) / 2}},
		{2 * drillPage, []int{0, drillPage}},
		{2*drillPage + 2, []int{0, drillPage + 1, drillPage + 2}},
		{10000, []int{0, 5000, 10000 - drillPage}},
	} {
		if got := pageOffsets(tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("pageOffsets(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
