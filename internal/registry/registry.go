// Package registry holds the effective-dated organisation units (province,
// departments, districts, communes) that emit events and receive scores.
package registry

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/fielderr"
)

// A Registry is a validated, read-only set of organisation units. It is safe
// for concurrent use. Methods that return units return copies.
type Registry struct {
	version string
	note    string
	units   []Unit
	index   map[string]int
}

// file is the JSON layout of a registry file.
type file struct {
	Version string `json:"version"`
	Note    string `json:"note,omitempty"`
	Units   []Unit `json:"units"`
}

// A FieldError is one problem found in the file: which unit (by code,
// and by position) and which field. Parse returns every problem it finds,
// joined; use errors.As to get the first.
type FieldError = fielderr.Error

// problems collects the problems of a file.
type problems = fielderr.List

// Parse reads and validates a registry file (JSON). It checks that the
// version is set; that every code is unique and well-formed; that levels are
// known and names present; that parents, successors and reports_for name
// existing other units; that valid_from is set and not after valid_to; and
// that no unit is its own ancestor or successor. The error lists every
// problem found, each naming the unit and the field (see FieldError).
func Parse(r io.Reader) (*Registry, error) {
	var f file
	if err := fielderr.Decode(r, &f, "registry", "registry"); err != nil {
		return nil, err
	}
	return build(f)
}

func build(f file) (*Registry, error) {
	p := problems{Item: "unit"}
	if strings.TrimSpace(f.Version) == "" {
		p.Add("", -1, "version", "missing")
	}
	if len(f.Units) == 0 {
		p.Add("", -1, "units", "no units")
	}
	index := make(map[string]int, len(f.Units))
	for i, u := range f.Units {
		switch {
		case !events.ValidAgency(u.Code):
			p.Add(u.Code, i, "code", "malformed: want [a-z0-9-]{1,%d}", events.MaxAgencyLen)
		default:
			if j, dup := index[u.Code]; dup {
				p.Add(u.Code, i, "code", "duplicate of unit #%d", j)
			} else {
				index[u.Code] = i
			}
		}
	}
	for i, u := range f.Units {
		if strings.TrimSpace(u.Name) == "" {
			p.Add(u.Code, i, "name", "missing")
		}
		if !u.Level.Valid() {
			p.Add(u.Code, i, "level", "unknown level %q: want one of %s", u.Level, levelList())
		}
		checkRef := func(field, ref string) {
			switch _, ok := index[ref]; {
			case ref == u.Code:
				p.Add(u.Code, i, field, "refers to the unit itself")
			case !ok:
				p.Add(u.Code, i, field, "unknown unit %q", ref)
			}
		}
		if u.Parent != "" {
			checkRef("parent", u.Parent)
		}
		if u.Successor != "" {
			checkRef("successor", u.Successor)
		}
		seen := make(map[string]bool, len(u.ReportsFor))
		for _, ref := range u.ReportsFor {
			if seen[ref] {
				p.Add(u.Code, i, "reports_for", "%q listed twice", ref)
				continue
			}
			seen[ref] = true
			checkRef("reports_for", ref)
		}
		if u.ValidFrom.IsZero() {
			p.Add(u.Code, i, "valid_from", "missing")
		}
		if !u.ValidTo.IsZero() && u.ValidTo.Before(u.ValidFrom) {
			p.Add(u.Code, i, "valid_to", "%s is before valid_from %s", u.ValidTo, u.ValidFrom)
		}
	}
	if p.Len() == 0 {
		// Cycles are looked for only once every reference resolves.
		checkCycles(f.Units, index, "parent", func(u Unit) string { return u.Parent }, &p)
		checkCycles(f.Units, index, "successor", func(u Unit) string { return u.Successor }, &p)
	}
	if err := p.Err("registry: invalid registry"); err != nil {
		return nil, err
	}
	units := make([]Unit, len(f.Units))
	for i, u := range f.Units {
		units[i] = u.clone()
	}
	return &Registry{version: f.Version, note: f.Note, units: units, index: index}, nil
}

// checkCycles reports each cycle of the link next (parent or successor) once,
// on the first unit of the cycle in file order.
func checkCycles(units []Unit, index map[string]int, field string, next func(Unit) string, p *problems) {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(units))
	for start := range units {
		var path []int
		i, cyclic := start, false
		for state[i] == unseen {
			state[i] = onPath
			path = append(path, i)
			ref := next(units[i])
			if ref == "" {
				break
			}
			i = index[ref]
			cyclic = state[i] == onPath
		}
		if cyclic {
			var chain []string
			for k, j := range path {
				if j == i {
					for _, c := range path[k:] {
						chain = append(chain, units[c].Code)
					}
					break
				}
			}
			chain = append(chain, units[i].Code)
			p.Add(units[i].Code, i, field, "cycle %s", strings.Join(chain, " → "))
		}
		for _, j := range path {
			state[j] = done
		}
	}
}

func levelList() string {
	var s []string
	for _, l := range Levels() {
		s = append(s, string(l))
	}
	return strings.Join(s, ", ")
}

// Load reads and validates the registry file at path.
func Load(path string) (*Registry, error) {
	return fielderr.ReadFile("registry", path, Parse)
}

// Version returns the version string of the registry file.
func (r *Registry) Version() string { return r.version }

// Note returns the free-text note of the registry file.
func (r *Registry) Note() string { return r.note }

// Unit returns the unit with the given code.
func (r *Registry) Unit(code string) (Unit, bool) {
	i, ok := r.index[code]
	if !ok {
		return Unit{}, false
	}
	return r.units[i].clone(), true
}

// Units returns all units, in file order, whatever their validity.
func (r *Registry) Units() []Unit {
	out := make([]Unit, len(r.units))
	for i, u := range r.units {
		out[i] = u.clone()
	}
	return out
}

// Codes returns the codes of all units, in file order.
func (r *Registry) Codes() []string {
	out := make([]string, len(r.units))
	for i, u := range r.units {
		out[i] = u.Code
	}
	return out
}

// InForce returns the units in force on day d, in file order.
func (r *Registry) InForce(d Date) []Unit {
	var out []Unit
	for _, u := range r.units {
		if u.InForce(d) {
			out = append(out, u.clone())
		}
	}
	return out
}

// ParentAt returns the parent of the unit code on day d: its nearest ancestor
// in force on d. So a commune whose district has ended belongs to the
// province. The unit itself need not be in force on d. It returns false when
// code is unknown or no ancestor is in force on d.
func (r *Registry) ParentAt(code string, d Date) (string, bool) {
	i, ok := r.index[code]
	if !ok {
		return "", false
	}
	// Parse rejects parent cycles, so the walk ends.
	for p := r.units[i].Parent; p != ""; {
		u := r.units[r.index[p]]
		if u.InForce(d) {
			return u.Code, true
		}
		p = u.Parent
	}
	return "", false
}

// AncestorsAt returns the chain of parents of code on day d (see ParentAt),
// nearest first, ending at the root; empty for a root or an unknown code.
func (r *Registry) AncestorsAt(code string, d Date) []string {
	var out []string
	for c, ok := r.ParentAt(code, d); ok; c, ok = r.ParentAt(c, d) {
		out = append(out, c)
	}
	return out
}

// DescendantsAt returns, in file order, the units in force on day d whose
// chain of ancestors on d goes through code, code itself excluded.
// It is empty when code is not in force on d.
func (r *Registry) DescendantsAt(code string, d Date) []string {
	var out []string
	for _, u := range r.units {
		if u.Code == code || !u.InForce(d) {
			continue
		}
		for c, ok := r.ParentAt(u.Code, d); ok; c, ok = r.ParentAt(c, d) {
			if c == code {
				out = append(out, u.Code)
				break
			}
		}
	}
	return out
}

// Known reports whether code is a unit of the registry, in force or not.
func (r *Registry) Known(code string) bool {
	_, ok := r.index[code]
	return ok
}

// SpeaksForProvince reports whether code is a unit of level province or a
// unit whose reports_for names one: the units that may send the figures
// that count for the whole province (events.EmitProvince).
func (r *Registry) SpeaksForProvince(code string) bool {
	i, ok := r.index[code]
	if !ok {
		return false
	}
	if r.units[i].Level == LevelProvince {
		return true
	}
	for _, c := range r.units[i].ReportsFor {
		if j, ok := r.index[c]; ok && r.units[j].Level == LevelProvince {
			return true
		}
	}
	return false
}

// MayReportFor reports whether the unit agency may emit events for unit:
// agency is a known unit and either unit is agency itself or agency
// declares it in reports_for. Validity dates are not considered.
func (r *Registry) MayReportFor(agency, unit string) bool {
	i, ok := r.index[agency]
	if !ok {
		return false
	}
	if agency == unit {
		return true
	}
	for _, c := range r.units[i].ReportsFor {
		if c == unit {
			return true
		}
	}
	return false
}

// Predecessors returns, in file order, the units whose successor is code:
// the units whose history continues in code.
func (r *Registry) Predecessors(code string) []string {
	var out []string
	for _, u := range r.units {
		if u.Successor == code {
			out = append(out, u.Code)
		}
	}
	return out
}

// SuccessorAt returns the unit that carries the history of code on day d:
// code itself if it is in force on d, else the first unit in force on d
// along its chain of successors. It returns false when code is unknown or
// no unit of the chain is in force on d.
func (r *Registry) SuccessorAt(code string, d Date) (string, bool) {
	// Parse rejects successor cycles, so the walk ends.
	for c := code; c != ""; {
		i, ok := r.index[c]
		if !ok {
			return "", false
		}
		if r.units[i].InForce(d) {
			return c, true
		}
		c = r.units[i].Successor
	}
	return "", false
}

// InForceOn reports whether unit code is in force on the province's day of
// t; when it is not, why gives its dates and successor (events.UnitDates).
func (r *Registry) InForceOn(code string, t time.Time) (ok bool, why string) {
	u, found := r.Unit(code)
	if !found {
		return false, "not in the registry"
	}
	if u.InForce(DateOf(t)) {
		return true, ""
	}
	from, to := "the beginning", "today"
	if !u.ValidFrom.IsZero() {
		from = u.ValidFrom.String()
	}
	if !u.ValidTo.IsZero() {
		to = u.ValidTo.String()
	}
	why = fmt.Sprintf("in force from %s to %s", from, to)
	if u.Successor != "" {
		why += "; its successor is " + u.Successor
	}
	return false, why
}
