// Package eventtest builds event envelopes as JSON text for tests, one
// builder per event type the tests send (the envelope: docs/design.md,
// "The event envelope").
package eventtest

import "fmt"

// Workfile is a workfile.processed event: workfile processed online or not.
func Workfile(id, agency, at, workfile string, online bool) string {
	return fmt.Sprintf(`{"id":%q,"type":"workfile.processed","v":1,"agency":%q,"occurred_at":%q,"data":{"workfile_id":%q,"online":%t}}`, id, agency, at, workfile, online)
}

// Service is a service.published event: an online public service at level
// 1–4, usable on mobile or not.
func Service(id, agency, at, code string, level int, mobile bool) string {
	return fmt.Sprintf(`{"id":%q,"type":"service.published","v":1,"agency":%q,"occurred_at":%q,"data":{"service_code":%q,"level":%d,"mobile":%t}}`, id, agency, at, code, level, mobile)
}

// Withdrawn is a service.withdrawn event: the service ends.
func Withdrawn(id, agency, at, code string) string {
	return fmt.Sprintf(`{"id":%q,"type":"service.withdrawn","v":1,"agency":%q,"occurred_at":%q,"data":{"service_code":%q}}`, id, agency, at, code)
}
