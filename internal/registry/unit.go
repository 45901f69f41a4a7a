package registry

// A Level is the tier of government an organisation unit belongs to.
type Level string

// The levels of the registry. Wards (phường) and townships (thị trấn) are of
// level commune, like communes (xã) proper.
const (
	LevelProvince   Level = "province"
	LevelDepartment Level = "department"
	LevelDistrict   Level = "district"
	LevelCommune    Level = "commune"
)

// Levels returns the known levels, from the province down.
func Levels() []Level {
	return []Level{LevelProvince, LevelDepartment, LevelDistrict, LevelCommune}
}

// Valid reports whether l is one of the known levels.
func (l Level) Valid() bool {
	switch l {
	case LevelProvince, LevelDepartment, LevelDistrict, LevelCommune:
		return true
	}
	return false
}

// A Unit is an organisation unit (the province, a department, a district,
// a commune) as it appears in a registry file.
type Unit struct {
	// Code identifies the unit in events and queries: [a-z0-9-]{1,48}.
	Code   string `json:"code"`
	Name   string `json:"name"`
	NameEN string `json:"name_en"`
	Level  Level  `json:"level"`
	// Parent is the code of the unit's parent, "" for a root. When the parent
	// is not in force on a date, the unit belongs to its nearest ancestor
	// that is (see Registry.ParentAt).
	Parent string `json:"parent"`
	// ValidFrom and ValidTo bound the days the unit exists, both inclusive;
	// a zero ValidTo means the unit is still in force.
	ValidFrom Date `json:"valid_from"`
	ValidTo   Date `json:"valid_to"`
	// Successor is the unit that carries on the history of this one after
	// ValidTo, "" if none.
	Successor string `json:"successor"`
	// ReportsFor lists the units, besides itself, for which this unit may
	// emit events (an aggregating unit such as the statistics office
	// reporting province-wide figures).
	ReportsFor []string `json:"reports_for"`
}

// InForce reports whether u exists on day d: ValidFrom <= d <= ValidTo,
// where a zero ValidFrom or ValidTo leaves that end open.
func (u Unit) InForce(d Date) bool {
	if !u.ValidFrom.IsZero() && d.Before(u.ValidFrom) {
		return false
	}
	if !u.ValidTo.IsZero() && d.After(u.ValidTo) {
		return false
	}
	return true
}

func (u Unit) clone() Unit {
	u.ReportsFor = append([]string{}, u.ReportsFor...)
	return u
}
