package fold

import (
	"reflect"
	"testing"

	"github.com/bacgiang/cds/events"
)

func TestValueRoundTrip(t *testing.T) {
	for _, r := range []IndexRow{
		{Kind: KindID, Name: "0193a1f4-5c2e", Key: "workfile/bg-vietyen/VY-1"},
		{Kind: KindID, Name: "r1"},
		{Kind: KindSuperseded, Agency: "bg-syt", Name: "a/b/c"},
		{Kind: KindKey, Name: "service/bg-syt/S1", ID: "e9", Op: -1},
		{Kind: KindKey, Name: "grdp/2024", ID: "e1", Op: 1, Agency: "bg-sokhdt", At: -86400, Period: 2024, Day: -1},
		{Kind: KindKey, Name: "enterprise/123", ID: "e2", Op: 1, Agency: "bg-sokhdt", At: 1735689600, Day: 20089,
			Contribs: []events.Contribution{{Indicator: "DNS", Num: 1}, {Indicator: "KTS_NGANH", Dim: "công nghiệp", Num: 12.5, Den: -3}}},
	} {
		got, err := ParseRow(r.Lookup(), string(AppendValue(nil, &r)))
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, r)
		}
	}
}

func TestParseRowRejects(t *testing.T) {
	entry := string(AppendValue(nil, &IndexRow{Kind: KindKey, ID: "e1", Op: 1, Agency: "a", Contribs: []events.Contribution{{Indicator: "X", Num: 1}}}))
	for _, tc := range []struct{ name, lookup, value string }{
		{"no kind", "x", ""},
		{"unknown kind", "z:1", ""},
		{"superseded without agency", "s:e1", ""},
		{"empty entry", "k:K", ""},
		{"wrong version", "k:K", "\x02" + entry[1:]},
		{"bad op", "k:K", "\x01\x05\x02e1"},
		{"truncated", "k:K", entry[:len(entry)-3]},
		{"left over", "k:K", entry + "x"},
		{"huge count", "k:K", "\x01\x01\x02e1\x01a\x00\x00\x00\xff\xff\x03"},
	} {
		if _, err := ParseRow(tc.lookup, tc.value); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// FuzzParseRow: any stored bytes give a row or an error, never a panic, and
// a row parsed from an entry value encodes to a value that parses to the
// same row (values with overlong varints parse, but encode shorter).
func FuzzParseRow(f *testing.F) {
	r := IndexRow{Kind: KindKey, ID: "e1", Op: 1, Agency: "bg-syt", At: 1735689600, Period: 2025, Day: 20089,
		Contribs: []events.Contribution{{Indicator: "HSCV", Num: 1, Den: 1}}}
	f.Add("k:workfile/bg-syt/W1", string(AppendValue(nil, &r)))
	f.Add("i:e1", "workfile/bg-syt/W1")
	f.Add("s:bg-syt/e1", "")
	f.Add("k:K", "\x01\xff\x02e1")
	f.Fuzz(func(t *testing.T, lookup, value string) {
		row, err := ParseRow(lookup, value)
		if err != nil || row.Kind != KindKey {
			return
		}
		again, err := ParseRow(lookup, string(AppendValue(nil, &row)))
		if err != nil {
			t.Fatalf("re-encoded row does not parse: %v", err)
		}
		// Compared encoded: NaN numbers are not equal to themselves.
		if a, b := AppendValue(nil, &again), AppendValue(nil, &row); string(a) != string(b) || again.Name != row.Name {
			t.Fatalf("re-encoded row parses to\n%+v, want\n%+v", again, row)
		}
	})
}
