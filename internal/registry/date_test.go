package registry

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in      string
		want    Date
		wantErr bool
	}{
		{in: "2025-06-30", want: NewDate(2025, time.June, 30)},
		{in: "2024-02-29", want: NewDate(2024, time.February, 29)},
		{in: "2025-02-29", wantErr: true},
		{in: "2025-6-30", wantErr: true},
		{in: "2025-06-30T00:00:00Z", wantErr: true},
		{in: "", wantErr: true},
		{in: "30/06/2025", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDate(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseDate(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDateOf(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc evening is next day in Hanoi", time.Date(2025, 6, 30, 17, 0, 0, 0, time.UTC), "2025-07-01"},
		{"utc before 17:00 is same day", time.Date(2025, 6, 30, 16, 59, 59, 0, time.UTC), "2025-06-30"},
		{"offset +07:00 kept", time.Date(2025, 3, 14, 0, 0, 0, 0, time.FixedZone("", 7*3600)), "2025-03-14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DateOf(tt.in).String(); got != tt.want {
				t.Errorf("DateOf(%v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestDateArithmetic(t *testing.T) {
	d := NewDate(2025, time.June, 30)
	if got := d.AddDays(1).String(); got != "2025-07-01" {
		t.Errorf("AddDays(1) = %s", got)
	}
	if got := NewDate(2025, time.December, 31).Sub(NewDate(2021, time.June, 11)); got != 1664 {
		t.Errorf("Sub = %d, want 1664", got)
	}
	if !d.Before(d.AddDays(1)) || d.After(d.AddDays(1)) || d.Compare(d) != 0 {
		t.Error("Before/After/Compare disagree")
	}
	if !(Date{}).Before(d) || !(Date{}).IsZero() || (Date{}).String() != "" {
		t.Error("zero Date")
	}
	if got, want := d.Start(), time.Date(2025, 6, 29, 17, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Start = %v, want %v", got, want)
	}
}

func TestDateJSON(t *testing.T) {
	type doc struct {
		From Date `json:"from"`
		To   Date `json:"to"`
	}
	in := doc{From: NewDate(2021, time.January, 1)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"from":"2021-01-01","to":""}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("Unmarshal = %+v, %v; want %+v", out, err, in)
	}
	for _, bad := range []string{`{"from":"2021-13-01"}`, `{"from":20210101}`, `{"from":"soon"}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}
