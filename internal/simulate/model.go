package simulate

import (
	"time"

	"github.com/bacgiang/cds/internal/registry"
)

// The anchors of every trend: the adoption of Resolution 111-NQ/TU and the
// ends of its two horizons.
var (
	anchorStart = registry.NewDate(2021, 6, 11)
	anchor2025  = registry.NewDate(2025, 12, 31)
	anchor2030  = registry.NewDate(2030, 12, 31)
)

// trend is a quantity that moves linearly from start (2021-06-11) to y2025
// (2025-12-31) to y2030 (2030-12-31), constant before and after.
type trend struct{ start, y2025, y2030 float64 }

func (t trend) at(d registry.Date) float64 {
	switch {
	case !d.After(anchorStart):
		return t.start
	case !d.After(anchor2025):
		return lerp(t.start, t.y2025, float64(d.Sub(anchorStart))/float64(anchor2025.Sub(anchorStart)))
	case !d.After(anchor2030):
		return lerp(t.y2025, t.y2030, float64(d.Sub(anchor2025))/float64(anchor2030.Sub(anchor2025)))
	}
	return t.y2030
}

// inYear is the value of t in the middle of year y, for yearly figures.
func (t trend) inYear(y int) float64 { return t.at(registry.NewDate(y, 7, 1)) }

func lerp(a, b, f float64) float64 { return a + (b-a)*f }

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

// profile is what agencies of one level do. Rates are expected events per
// simulated day at Rate 1, before the weekday factor.
type profile struct {
	level registry.Level

	workfiles, sessions, reports, inspections, datasets float64

	services    [2]int  // catalogue size, inclusive range
	servicePool int     // size of the shared pool of procedure codes the level draws from; 0 = codes of its own
	business    float64 // share of business users among auth sessions

	online    trend // workfile.processed online (HSCV)
	viaSystem trend // report.submitted via the provincial system (BAOCAO)
	digital   trend // inspection.completed digitally (KIEMTRA)
	level4    trend // share of a new catalogue already at level 4 (DVC_L4)

	level4By registry.Date    // by when a typical agency has every service at level 4
	openData [2]registry.Date // window in which agencies start publishing open data

	spread   float64 // half-width of an agency's random offset from the level's curves
	lagShare float64 // share of agencies that lag further
	lagBy    float64 // how much they lag
}

// profiles by level. The province itself emits nothing of its own: its
// figures come from the units that report for it.
var profiles = map[registry.Level]*profile{
	registry.LevelDepartment: {
		level:     registry.LevelDepartment,
		workfiles: 6, sessions: 4, reports: 1.0 / 7, inspections: 1.0 / 20, datasets: 1.0 / 20,
		services: [2]int{25, 40}, business: 0.35,
		online:    trend{0.80, 0.965, 0.995},
		viaSystem: trend{0.55, 0.97, 1},
		digital:   trend{0.25, 0.66, 0.78},
		level4:    trend{0.45, 1, 1},
		level4By:  registry.NewDate(2023, 12, 31),
		openData:  [2]registry.Date{registry.NewDate(2021, 8, 1), registry.NewDate(2023, 6, 30)},
		spread:    0.03, lagShare: 0.1, lagBy: 0.03,
	},
	registry.LevelDistrict: {
		level:     registry.LevelDistrict,
		workfiles: 8, sessions: 5, reports: 1.0 / 7, inspections: 1.0 / 25, datasets: 1.0 / 40,
		services: [2]int{20, 30}, servicePool: 60, business: 0.25,
		online:    trend{0.70, 0.89, 0.975},
		viaSystem: trend{0.45, 0.94, 1},
		digital:   trend{0.20, 0.63, 0.75},
		level4:    trend{0.35, 1, 1},
		level4By:  registry.NewDate(2024, 12, 31),
		openData:  [2]registry.Date{registry.NewDate(2022, 3, 1), registry.NewDate(2025, 12, 31)},
		spread:    0.03, lagShare: 0.3, lagBy: 0.05,
	},
	registry.LevelCommune: {
		level:     registry.LevelCommune,
		workfiles: 2, sessions: 1.5, reports: 1.0 / 7, inspections: 1.0 / 45, datasets: 1.0 / 120,
		services: [2]int{10, 15}, servicePool: 40, business: 0.10,
		online:    trend{0.48, 0.70, 0.84},
		viaSystem: trend{0.30, 0.88, 0.98},
		digital:   trend{0.10, 0.58, 0.72},
		level4:    trend{0.25, 1, 1},
		level4By:  registry.NewDate(2025, 9, 30),
		openData:  [2]registry.Date{registry.NewDate(2023, 1, 1), registry.NewDate(2031, 12, 31)},
		spread:    0.04, lagShare: 0.3, lagBy: 0.08,
	},
}

// Province-wide trends.
var (
	authenticated    = trend{0.25, 0.86, 0.99}   // citizens identified through the national e-ID (DINHDANH); businesses +0.05
	mobileAtOnce     = trend{0.30, 0.95, 1}      // share of level-4 services usable on mobile when they reach level 4
	enterpriseDigit  = trend{0.08, 0.26, 0.42}   // share of new enterprises that are digital (DNS)
	digitalEconomy   = trend{0.145, 0.25, 0.355} // digital economy share of GRDP (KTS_GRDP)
	grdpGrowth       = trend{0.12, 0.13, 0.11}   // nominal GRDP growth
	productivityGrow = trend{0.09, 0.13, 0.14}   // labour productivity growth (NSLD)
	dtiRank          = trend{27, 13, 8}          // national DTI rank (DTI_RANK)
	dtiScore         = trend{0.36, 0.62, 0.78}   // national DTI score, 0-1
)

// Base figures of 2020, before the simulation.
const (
	grdp2020         = 128_500 // bn VND
	productivity2020 = 118     // mn VND per worker
)

// sectors are the province's priority sectors: their share of GRDP and how
// far their digital share is from the province's (KTS_NGANH, minimum over
// sectors, is driven by agriculture).
var sectors = []struct {
	name          string
	share, offset float64
}{
	{"health", 0.025, -0.02},
	{"education", 0.035, 0.02},
	{"natural_resources_environment", 0.03, -0.06},
	{"industry_investment", 0.46, 0.06},
	{"agriculture", 0.12, -0.085},
	{"transport", 0.05, -0.04},
}

// regimes of report.submitted with their weights; quarterly reports cluster
// at the start of a quarter, annual ones in December and January.
var regimes = []struct {
	name   string
	weight func(registry.Date) float64
}{
	{"monthly", func(registry.Date) float64 { return 0.6 }},
	{"quarterly", func(d registry.Date) float64 {
		if d.Month()%3 == 1 && d.Day() <= 10 {
			return 0.8
		}
		return 0.08
	}},
	{"annual", func(d registry.Date) float64 {
		if d.Month() == time.December || d.Month() == time.January && d.Day() <= 15 {
			return 0.3
		}
		return 0.005
	}},
	{"ad_hoc", func(registry.Date) float64 { return 0.17 }},
}

// datasetThemes are titles of open datasets; a title adds the unit and year.
var datasetThemes = []string{
	"Danh mục thủ tục hành chính",
	"Kết quả giải quyết hồ sơ thủ tục hành chính",
	"Danh sách cơ sở sản xuất, kinh doanh",
	"Kế hoạch sử dụng đất",
	"Danh sách trường học",
	"Danh sách cơ sở khám, chữa bệnh",
	"Số liệu dân số",
	"Danh mục dự án đầu tư công",
	"Bảng giá đất",
	"Danh sách hợp tác xã",
	"Điểm truy cập Wi-Fi công cộng",
	"Danh sách di tích lịch sử - văn hóa",
	"Chỉ tiêu kinh tế - xã hội",
	"Danh sách chợ và trung tâm thương mại",
}

// Correction and retraction probabilities per flow event.
const (
	correctionRate = 0.002
	retractionRate = 0.0002
)

// Service catalogue events.
const (
	withdrawRate     = 1.0 / 500 // service.withdrawn per agency per day
	mobileLagMaxDays = 540       // a level-4 service becomes mobile within this many days
	upgradeMinDays   = 30        // a service moves up no sooner than this after the catalogue appears
	lateMaxDays      = 540       // the most a lagging agency is late on level4By
)

// Province statistics.
const (
	registrationsPerDay = 3.5  // enterprise.registered
	closuresPerDay      = 0.15 // enterprise.closed
)

// weekdayFactor scales office work (dossiers, reports, inspections,
// enterprise registrations) by day of week; the mean over a week is ~1.
func weekdayFactor(d registry.Date) float64 {
	switch d.Start().Weekday() {
	case time.Saturday:
		return 0.3
	case time.Sunday:
		return 0.1
	}
	return 1.3
}

// sessionFactor scales online-service sessions, which continue at weekends.
func sessionFactor(d registry.Date) float64 {
	switch d.Start().Weekday() {
	case time.Saturday:
		return 0.7
	case time.Sunday:
		return 0.45
	}
	return 1.15
}
