package scores

import "testing"

// TestMemoKeepsAtMostMemoMax checks that a memo computes each key once
// while it has room, and beyond memoMax keys computes without keeping (a
// client asking silence for every window between two commits must not
// grow an entry without bound).
func TestMemoKeepsAtMostMemoMax(t *testing.T) {
	var m memo[int, int]
	calls := map[int]int{}
	get := func(k int) int {
		return m.get(k, func() int { calls[k]++; return 10 * k })
	}
	for k := range memoMax + 10 {
		if v := get(k); v != 10*k {
			t.Fatalf("get(%d) = %d, want %d", k, v, 10*k)
		}
	}
	for k := range memoMax + 10 {
		get(k)
	}
	for k := range memoMax + 10 {
		want := 1
		if k >= memoMax {
			want = 2
		}
		if calls[k] != want {
			t.Errorf("key %d computed %d times, want %d", k, calls[k], want)
		}
	}
	if len(m.m) != memoMax {
		t.Errorf("memo keeps %d keys, want %d", len(m.m), memoMax)
	}
	var none *memo[int, int]
	if v := none.get(3, func() int { return 7 }); v != 7 {
		t.Errorf("nil memo: got %d, want 7", v)
	}
}
