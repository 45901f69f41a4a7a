// Package simulate runs the simulated province of `cds up --simulate`: every
// unit of the registry publishes a realistic, deterministic mix of
// measurement events through NATS with its own credentials, on a simulated
// clock.
//
// The package has two halves. Generator is the model: pure, no NATS, one call
// per simulated day returning that day's events. Simulator drives a Generator
// from a simulated clock and publishes through one NATS connection per agency,
// exactly as an agency system would (user = agency code, inbox prefix
// _INBOX.<agency>, JetStream PubAck, Nats-Msg-Id = event id).
//
// # The model
//
// Volumes are expected events per simulated day at Rate 1 (Poisson draws,
// more on working days, few on Sundays):
//
//	                      department  district  commune
//	workfile.processed         6         8        2
//	auth.recorded              4         5        1.5
//	report.submitted          1/7       1/7      1/7      monthly, quarterly, annual, ad_hoc
//	inspection.completed      1/20      1/25     1/45
//	opendata.published        1/20      1/40     1/120    only after the agency's start date
//
// Each agency has a catalogue of public services (department 25–40 codes of
// its own, district 20–30 and commune 10–15 from shared pools of national
// procedure codes such as "1.004227"), published in full on its first day. Each
// service then follows its own schedule from level 2 or 3 to 4 and on to
// mobile, one service.published per step; about once a year and a half an
// agency withdraws a service and opens a new one.
//
// Shares (dossiers online, reports via the system, inspections digital, users
// authenticated through the national e-ID, level-4 services) move linearly
// between anchors on 2021-06-11, 2025-12-31 and 2030-12-31, chosen around the
// targets of Resolution 111-NQ/TU (see trends in model.go). Each agency has a
// fixed offset from its level's curve, and about a third of districts and
// communes lag further, so districts sit around the 85% target and some
// communes below 65%.
//
// The province-wide statistics are published for the province unit by units
// that report for it: bg-skhdt registers enterprises (about 3.5 a day, the
// digital share rising from 8% to 42%) and closes a few; bg-ctk reports the
// GRDP (with the six priority sectors) and labour productivity of each year in
// Q1 of the next; bg-stttt publishes the DTI of each year in June–September of
// the next, the rank moving from the high twenties toward 9. On its first day the
// generator republishes the latest figures already out, so the dashboards
// have a baseline.
//
// Units emit only while they are in force, so the districts fall silent after
// 2025-06-30 while communes go on. About 0.2% of flow events are later
// corrected (a new event that supersedes an earlier one of the same agency and
// type, with the same occurred_at and fixed data) and 0.02% retracted
// ("data": null).
//
// Ids are UUIDv7-like: the simulated occurred_at in milliseconds followed by
// bits from the agency's random stream. With a fixed Seed a run is
// reproducible event for event, ids included, so republishing a simulation
// with the same Seed adds nothing to the projections.
package simulate
