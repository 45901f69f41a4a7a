package events

import "strings"

// SubjectPrefix starts the subject of every event: cds.events.<agency>.<type>.
const SubjectPrefix = "cds.events."

// Subject returns the NATS subject an event of type typ from agency is published on.
func Subject(agency, typ string) string { return SubjectPrefix + agency + "." + typ }

// Subject returns the NATS subject of e.
func (e *Event) Subject() string { return Subject(e.Agency, e.Type) }

// ParseSubject splits cds.events.<agency>.<type> into agency and type.
func ParseSubject(subject string) (agency, typ string, ok bool) {
	rest, found := strings.CutPrefix(subject, SubjectPrefix)
	if !found {
		return "", "", false
	}
	agency, typ, found = strings.Cut(rest, ".")
	if !found || agency == "" || typ == "" {
		return "", "", false
	}
	return agency, typ, true
}

// CheckSubject verifies that the subject an event arrived on names the same
// agency and type as its body.
func CheckSubject(subject string, e *Event) error {
	agency, typ, ok := ParseSubject(subject)
	switch {
	case !ok:
		return errf(ReasonSubject, "", "subject %q is not of the form cds.events.<agency>.<type>", clip(subject))
	case agency != e.Agency:
		return errf(ReasonSubject, "agency", "body says %q but the subject %q names agency %q", e.Agency, clip(subject), agency)
	case typ != e.Type:
		return errf(ReasonSubject, "type", "body says %q but the subject %q names type %q", e.Type, clip(subject), typ)
	}
	return nil
}
