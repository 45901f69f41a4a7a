package chdb

import "testing"

func TestMarksKey(t *testing.T) {
	tests := []struct {
		name string
		rows []struct {
			unit string
			s    MarkSum
		}
		want string
	}{
		{name: "none", want: ""},
		{name: "sorted by unit, summed", rows: []struct {
			unit string
			s    MarkSum
		}{
			{"CDS_EVENTS" + MarkerIndexSuffix, MarkSum{Num: 2, Den: 3}},
			{"CDS_EVENTS", MarkSum{N: 5, Num: 5, Den: 15}},
			{"CDS_EVENTS", MarkSum{N: 2, Num: 2, Den: 0.5}},
		}, want: "CDS_EVENTS 7 7 15.5;CDS_EVENTS#fold_index 0 2 3;"},
		{name: "rows that cancel still name their unit", rows: []struct {
			unit string
			s    MarkSum
		}{
			{"CDS_EVENTS" + MarkerLeaseSuffix, MarkSum{Num: 1}},
			{"CDS_EVENTS" + MarkerLeaseSuffix, MarkSum{Num: -1}},
		}, want: "CDS_EVENTS#lease 0 0 0;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Marks{}
			for _, r := range tt.rows {
				m.Add(r.unit, r.s)
			}
			if got := m.Key(); got != tt.want {
				t.Errorf("Key() = %q, want %q", got, tt.want)
			}
		})
	}
}
