package events

import (
	"strings"
	"testing"
)

// TestOneReading: every key on which Go's decoder and ClickHouse's
// visitParamExtract* could read different values is refused, with the field
// at fault, at the envelope, in data and in a sector.
func TestOneReading(t *testing.T) {
	const wf = `{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":%s}`
	const grdp = `{"id":"g1","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[{"sector":"health","total":1000,"digital":200},%s]}}`
	with := func(format, s string) string { return strings.Replace(format, "%s", s, 1) }
	tests := []struct {
		name       string
		in         string
		wantReason Reason
		wantField  string
	}{
		{"duplicate data key", with(wf, `{"workfile_id":"W","online":false,"online":true}`), ReasonMalformed, "data.online"},
		{"key in upper case", with(wf, `{"workfile_id":"W","ONLINE":true}`), ReasonUnknownField, "data.ONLINE"},
		{"key in mixed case", with(wf, `{"Workfile_Id":"W","online":true}`), ReasonUnknownField, "data.Workfile_Id"},
		{"key folded by Unicode (long s)", with(wf, `{"workfile_id":"W","online":true,"ſcore":1}`), ReasonUnknownField, "data.ſcore"},
		{"escaped key", with(wf, `{"workfile_id":"W","\u006fnline":true}`), ReasonMalformed, `data.\u006fnline`},
		{"escaped quote in key", with(wf, `{"workfile_id":"W","on\"line":true}`), ReasonMalformed, `data.on\"line`},
		{"duplicate envelope key", strings.Replace(with(wf, `{"workfile_id":"W","online":true}`), `"agency":"bg-vietyen"`, `"agency":"bg-hiephoa","agency":"bg-vietyen"`, 1), ReasonMalformed, "agency"},
		{"envelope key in upper case", strings.Replace(with(wf, `{"workfile_id":"W","online":true}`), `"agency"`, `"AGENCY"`, 1), ReasonUnknownField, "AGENCY"},
		{"escaped envelope key", strings.Replace(with(wf, `{"workfile_id":"W","online":true}`), `"type"`, `"typ\u0065"`, 1), ReasonMalformed, `typ\u0065`},
		{"duplicate data", strings.Replace(with(wf, `{"workfile_id":"W","online":true}`), `"data":`, `"data":{"workfile_id":"W","online":false},"data":`, 1), ReasonMalformed, "data"},
		{"duplicate sector key", with(grdp, `{"sector":"education","total":10,"digital":1,"digital":9}`), ReasonMalformed, "data.sectors[1].digital"},
		{"sector key in upper case", with(grdp, `{"Sector":"education","total":10,"digital":1}`), ReasonUnknownField, "data.sectors[1].Sector"},
		{"NUL in a sector", with(grdp, `{"sector":"educ\u0000ation","total":10,"digital":1}`), ReasonInvalidField, "data.sectors[1].sector"},
		{"newline in a sector", with(grdp, `{"sector":"education\n","total":10,"digital":1}`), ReasonInvalidField, "data.sectors[1].sector"},
		{"bidi override in a sector", with(grdp, `{"sector":"\u202ehealth","total":10,"digital":1}`), ReasonInvalidField, "data.sectors[1].sector"},
		{"escaped zero-width space in a key", with(wf, `{"workfile_id":"W\u200b1","online":true}`), ReasonInvalidField, "data.workfile_id"},
		{"escaped zero-width joiner in a key", with(wf, `{"workfile_id":"W\u200d1","online":true}`), ReasonInvalidField, "data.workfile_id"},
		{"bidi isolate in a key", with(wf, `{"workfile_id":"W\u20661","online":true}`), ReasonInvalidField, "data.workfile_id"},
		{"C1 control in a key", with(wf, `{"workfile_id":"W\u00851","online":true}`), ReasonInvalidField, "data.workfile_id"},
		{"line separator in a title", `{"id":"d","type":"opendata.published","v":1,"agency":"bg","occurred_at":"2025-03-14T09:30:00+07:00","data":{"dataset_id":"D","title":"a\u2028b"}}`, ReasonInvalidField, "data.title"},
		{"BOM in a user kind", `{"id":"a","type":"auth.recorded","v":1,"agency":"bg","occurred_at":"2025-03-14T09:30:00+07:00","data":{"session_id":"S","user_kind":"\ufeffcitizen","authenticated":true}}`, ReasonInvalidField, "data.user_kind"},
		{"raw bidi override in a sector", with(grdp, `{"sector":"`+"\u202e"+`health","total":10,"digital":1}`), ReasonInvalidField, "data.sectors[1].sector"},
		{"raw zero-width space in a key", with(wf, `{"workfile_id":"W`+"\u200b"+`1","online":true}`), ReasonInvalidField, "data.workfile_id"},
		{"raw NUL in a key", with(wf, `{"workfile_id":"W`+"\x00"+`1","online":true}`), ReasonMalformed, ""},
		{"Vietnamese is fine", with(grdp, `{"sector":"giáo dục và đào tạo","total":10,"digital":1}`), "", ""},
		{"combining marks are fine", with(wf, `{"workfile_id":"Hồ sơ 1","online":true}`), "", ""},
		{"escaped value is fine", with(wf, `{"workfile_id":"W\u0031","online":true}`), "", ""},
		{"a key inside a value is fine", with(wf, `{"workfile_id":"\"online\":true","online":false}`), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.in))
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if e.Payload == nil {
					t.Fatal("no payload")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %s", tt.in)
			}
			got, _ := err.(*Error)
			if got == nil || got.Reason != tt.wantReason || got.Field != tt.wantField {
				t.Fatalf("error = %v, want reason %s field %s", err, tt.wantReason, tt.wantField)
			}
		})
	}
}

// TestDataIsCanonical: data is stored as the fold read it: the type's field
// order, no whitespace, plain numbers, strings unescaped where JSON allows.
func TestDataIsCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ "online" : true , "workfile_id" : "W\u0031" }`, `{"workfile_id":"W1","online":true}`},
		{`{"workfile_id":"a\"b\\c/é","online":false}`, `{"workfile_id":"a\"b\\c/é","online":false}`},
	}
	for _, tt := range tests {
		e, err := Decode([]byte(`{"id":"e1","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":` + tt.in + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if string(e.Data) != tt.want {
			t.Errorf("data %s stored as %s, want %s", tt.in, e.Data, tt.want)
		}
	}
	e, err := Decode([]byte(`{"id":"g1","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":{"sectors":[{"digital":2e2,"total":1000.0,"sector":"health"}],"digital_economy":4.00e4,"grdp_total":200000,"year":2.024e3}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"year":2024,"grdp_total":200000,"digital_economy":40000,"sectors":[{"sector":"health","total":1000,"digital":200}]}`; string(e.Data) != want {
		t.Errorf("grdp data stored as %s, want %s", e.Data, want)
	}
	again, err := Decode([]byte(`{"id":"g1","type":"economy.grdp_reported","v":1,"agency":"bg-ctk","occurred_at":"2025-02-01T00:00:00+07:00","data":` + string(e.Data) + `}`))
	if err != nil || string(again.Data) != string(e.Data) {
		t.Errorf("canonical data read again: %s, %v", again.Data, err)
	}
}
