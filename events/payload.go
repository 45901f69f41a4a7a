package events

// Payload is the union of the data fields of every v1 event type. Decoding
// into pointers records which fields were present; the type table says which
// of them each type allows and requires.
type Payload struct {
	WorkfileID         *string   `json:"workfile_id"`
	Online             *bool     `json:"online"`
	ServiceCode        *string   `json:"service_code"`
	Level              *float64  `json:"level"`
	Mobile             *bool     `json:"mobile"`
	ReportID           *string   `json:"report_id"`
	Regime             *string   `json:"regime"`
	ViaSystem          *bool     `json:"via_system"`
	InspectionID       *string   `json:"inspection_id"`
	Digital            *bool     `json:"digital"`
	SessionID          *string   `json:"session_id"`
	UserKind           *string   `json:"user_kind"`
	Authenticated      *bool     `json:"authenticated"`
	DatasetID          *string   `json:"dataset_id"`
	Title              *string   `json:"title"`
	EnterpriseID       *string   `json:"enterprise_id"`
	Year               *float64  `json:"year"`
	GRDPTotal          *float64  `json:"grdp_total"`
	DigitalEconomy     *float64  `json:"digital_economy"`
	Sectors            *[]Sector `json:"sectors"`
	LabourProductivity *float64  `json:"labour_productivity"`
	Rank               *float64  `json:"rank"`
	Score              *float64  `json:"score"`
}

// Sector is one sector's figures in an economy.grdp_reported event (bn VND).
type Sector struct {
	Sector  *string  `json:"sector"`
	Total   *float64 `json:"total"`
	Digital *float64 `json:"digital"`
}

// kind is the JSON shape a data field must have.
type kind int

const (
	kindString kind = iota
	kindBool
	kindNumber
	kindSectors
)

func (k kind) String() string {
	switch k {
	case kindString:
		return "a string"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	default:
		return "an array of {sector, total, digital}"
	}
}

// fieldRef reaches one field of a Payload; exactly one accessor is set.
type fieldRef struct {
	kind    kind
	str     func(*Payload) *string
	boolean func(*Payload) *bool
	num     func(*Payload) *float64
}

func (f fieldRef) present(p *Payload) bool {
	switch f.kind {
	case kindString:
		return f.str(p) != nil
	case kindBool:
		return f.boolean(p) != nil
	case kindNumber:
		return f.num(p) != nil
	default:
		return p.Sectors != nil
	}
}

// payloadFields names every field of Payload, in a stable order.
var payloadFields = []struct {
	name string
	ref  fieldRef
}{
	{"workfile_id", strField(func(p *Payload) *string { return p.WorkfileID })},
	{"online", boolField(func(p *Payload) *bool { return p.Online })},
	{"service_code", strField(func(p *Payload) *string { return p.ServiceCode })},
	{"level", numField(func(p *Payload) *float64 { return p.Level })},
	{"mobile", boolField(func(p *Payload) *bool { return p.Mobile })},
	{"report_id", strField(func(p *Payload) *string { return p.ReportID })},
	{"regime", strField(func(p *Payload) *string { return p.Regime })},
	{"via_system", boolField(func(p *Payload) *bool { return p.ViaSystem })},
	{"inspection_id", strField(func(p *Payload) *string { return p.InspectionID })},
	{"digital", boolField(func(p *Payload) *bool { return p.Digital })},
	{"session_id", strField(func(p *Payload) *string { return p.SessionID })},
	{"user_kind", strField(func(p *Payload) *string { return p.UserKind })},
	{"authenticated", boolField(func(p *Payload) *bool { return p.Authenticated })},
	{"dataset_id", strField(func(p *Payload) *string { return p.DatasetID })},
	{"title", strField(func(p *Payload) *string { return p.Title })},
	{"enterprise_id", strField(func(p *Payload) *string { return p.EnterpriseID })},
	{"year", numField(func(p *Payload) *float64 { return p.Year })},
	{"grdp_total", numField(func(p *Payload) *float64 { return p.GRDPTotal })},
	{"digital_economy", numField(func(p *Payload) *float64 { return p.DigitalEconomy })},
	{"sectors", fieldRef{kind: kindSectors}},
	{"labour_productivity", numField(func(p *Payload) *float64 { return p.LabourProductivity })},
	{"rank", numField(func(p *Payload) *float64 { return p.Rank })},
	{"score", numField(func(p *Payload) *float64 { return p.Score })},
}

func strField(f func(*Payload) *string) fieldRef  { return fieldRef{kind: kindString, str: f} }
func boolField(f func(*Payload) *bool) fieldRef   { return fieldRef{kind: kindBool, boolean: f} }
func numField(f func(*Payload) *float64) fieldRef { return fieldRef{kind: kindNumber, num: f} }

func lookupField(name string) (fieldRef, bool) {
	for _, f := range payloadFields {
		if f.name == name {
			return f.ref, true
		}
	}
	return fieldRef{}, false
}
