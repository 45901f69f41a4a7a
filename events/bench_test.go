package events

import "testing"

var benchEvent = []byte(`{"id":"0193a1f4-5c2e-7d3a-9f00-1b2c3d4e5f60","type":"workfile.processed","v":1,"agency":"bg-vietyen","occurred_at":"2025-03-14T09:30:00+07:00","data":{"workfile_id":"VY-2025-000123","online":true}}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		if _, err := Decode(benchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAndContributions(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		e, err := Decode(benchEvent)
		if err != nil {
			b.Fatal(err)
		}
		_ = e.Key()
		_ = e.Contributions()
	}
}

// BenchmarkOneReading is the part of Decode that makes one reading: the key
// scan and the canonical data (docs/security.md).
func BenchmarkOneReading(b *testing.B) {
	e, err := Decode(benchEvent)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if err := checkKeys(benchEvent); err != nil {
			b.Fatal(err)
		}
		buf = e.Spec.appendData(buf[:0], e.Payload)
	}
}
