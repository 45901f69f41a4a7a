package fold

import "testing"

func TestDayTimeInvertsDayNumber(t *testing.T) {
	for d := int32(-100000); d <= 100000; d += 3 { // DayNumber works within ±292 years (time.Duration)
		got := DayTime(d)
		if want := epoch.AddDate(0, 0, int(d)); !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("DayTime(%d) = %v, want %v", d, got, want)
		}
		if n := DayNumber(got); n != d {
			t.Fatalf("DayNumber(DayTime(%d)) = %d", d, n)
		}
	}
}
