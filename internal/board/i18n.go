package board

import (
	"math"
	"strconv"
	"strings"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/scores"
)

// Languages of the board: Vietnamese by default, English with ?lang=en.
const (
	LangVI = "vi"
	LangEN = "en"
)

// text holds the board's words: key → Vietnamese, English.
var text = map[string][2]string{
	"site":           {"Chuyển đổi số Bắc Giang", "Bắc Giang digital transformation"},
	"site.sub":       {"Bảng theo dõi chỉ tiêu Nghị quyết 111-NQ/TU", "Resolution 111-NQ/TU scoreboard"},
	"nav.overview":   {"Toàn tỉnh", "Province"},
	"nav.skip":       {"Bỏ qua, đến nội dung chính", "Skip to main content"},
	"lang.other":     {"English", "Tiếng Việt"},
	"asof":           {"Số liệu đến hết ngày", "Figures as of the end of"},
	"milestone":      {"Mốc chỉ tiêu năm", "Milestone year"},
	"fresh.folded":   {"Sự kiện mới nhất đã xử lý: nhận lúc", "Newest event folded: received"},
	"fresh.none":     {"Chưa xử lý sự kiện nào.", "No event folded yet."},
	"fresh.lag":      {"Độ trễ xử lý:", "Projector lag:"},
	"fresh.events":   {"sự kiện chờ", "events waiting"},
	"fresh.uptodate": {"đã cập nhật hết", "up to date"},
	"fresh.unknown":  {"không rõ", "unknown"},
	"fresh.occurred": {"xảy ra lúc", "occurred"},
	"filter":         {"Lọc", "Filter"},
	"filter.level":   {"Cấp", "Level"},
	"filter.date":    {"Đến ngày", "As of"},
	"filter.show":    {"Hiển thị", "Show"},
	"filter.all":     {"Tất cả", "All"},
	"filter.top":     {"đứng đầu", "top"},
	"filter.bottom":  {"cuối bảng", "bottom"},
	"filter.apply":   {"Áp dụng", "Apply"},
	"csv":            {"Tải CSV", "Download CSV"},
	"print":          {"In (A4)", "Print (A4)"},
	"indicator":      {"Chỉ tiêu", "Indicator"},
	"indicators":     {"Các chỉ tiêu", "Indicators"},
	"value":          {"Kết quả", "Value"},
	"target":         {"Chỉ tiêu", "Target"},
	"expected":       {"Theo lộ trình", "Expected on the trajectory"},
	"expected.short": {"Lộ trình", "Expected"},
	"status":         {"Đánh giá", "Status"},
	"numden":         {"Tử số / mẫu số", "Numerator / denominator"},
	"period":         {"Kỳ tính", "Period"},
	"composite":      {"Điểm tổng hợp", "Composite"},
	"rank":           {"Hạng", "Rank"},
	"rank.change":    {"Thay đổi hạng so với cuối tháng trước", "Rank change since the previous month-end"},
	"rank.change.s":  {"± hạng", "± rank"},
	"rank.up":        {"lên", "up"},
	"rank.down":      {"xuống", "down"},
	"rank.same":      {"giữ nguyên", "no change"},
	"rank.new":       {"mới", "new"},
	"unit":           {"Đơn vị", "Unit"},
	"units":          {"đơn vị", "units"},
	"trend":          {"Diễn biến theo tháng", "Month by month"},
	"trend.table":    {"Bảng số liệu của biểu đồ", "The chart as a table"},
	"trend.month":    {"Cuối tháng", "Month-end"},
	"trend.value":    {"kết quả", "value"},
	"trend.target":   {"chỉ tiêu", "target"},
	"trend.expected": {"lộ trình", "trajectory"},
	"trend.none":     {"Chưa có số liệu để vẽ diễn biến.", "No figures to draw a trend from yet."},
	"counts":         {"Số đơn vị theo mức đánh giá", "Units by status"},
	"counts.lead":    {"Mỗi hàng: số đơn vị của cấp này ở từng mức đánh giá cho một chỉ tiêu.", "Each row: how many units of the level are at each status for one indicator."},
	"league":         {"Bảng xếp hạng", "League table"},
	"league.open":    {"Xem bảng xếp hạng", "Open the league table"},
	"league.lead":    {"Mỗi hàng là một đơn vị còn hiệu lực vào ngày trên; bấm tiêu đề cột để sắp xếp.", "One row per unit in force on that day; choose a column heading to sort."},
	"league.sorted":  {"Sắp xếp theo", "Sorted by"},
	"asc":            {"tăng dần", "ascending"},
	"desc":           {"giảm dần", "descending"},
	"silence":        {"Đơn vị chưa báo cáo", "Not reporting"},
	"silence.lead":   {"Đơn vị không gửi sự kiện nào cho các chỉ tiêu phát sinh hằng ngày (hồ sơ, báo cáo, kiểm tra, định danh) trong", "Units that sent no event for an indicator counted day by day (dossiers, reports, inspections, e-ID) in the last"},
	"silence.inds":   {"Chỉ tiêu không có sự kiện", "Indicators without events"},
	"silence.days":   {"ngày qua", "days"},
	"silence.none":   {"Tất cả đơn vị đều đã gửi số liệu.", "Every unit has reported."},
	"silence.last":   {"Sự kiện gần nhất", "Last event"},
	"silence.never":  {"chưa bao giờ", "never"},
	"silence.more":   {"và", "and"},
	"silence.more2":  {"đơn vị khác", "more units"},
	"province":       {"Toàn tỉnh", "The province"},
	"province.lead":  {"Kết quả từng chỉ tiêu của toàn tỉnh so với chỉ tiêu của mốc và lộ trình đường thẳng từ mốc cơ sở.", "Each indicator of the whole province against the milestone's target and the straight-line trajectory from the baseline."},
	"parent":         {"Trực thuộc", "Part of"},
	"children":       {"Đơn vị trực thuộc", "Units under it"},
	"valid":          {"Hiệu lực", "In force"},
	"valid.from":     {"từ", "from"},
	"valid.to":       {"đến", "to"},
	"ended":          {"Đơn vị đã kết thúc hoạt động ngày", "This unit ended on"},
	"successor":      {"Đơn vị kế thừa", "Successor"},
	"ended.view":     {"Xem số liệu đến ngày cuối cùng", "See its figures as of its last day"},
	"notinforce":     {"Đơn vị không có hiệu lực vào ngày này.", "This unit is not in force on this day."},
	"events":         {"Xem các sự kiện tạo nên số liệu", "See the events behind this figure"},
	"events.title":   {"Sự kiện tạo nên số liệu", "The events behind the figure"},
	"events.total":   {"sự kiện được tính", "events count"},
	"events.sql":     {"Câu lệnh SQL liệt kê các sự kiện này (ClickHouse)", "The SQL that lists these events (ClickHouse)"},
	"events.none":    {"Không có sự kiện nào được tính.", "No event counts."},
	"ev.at":          {"Thời điểm", "Occurred"},
	"ev.id":          {"Mã sự kiện", "Event id"},
	"ev.type":        {"Loại", "Type"},
	"ev.agency":      {"Đơn vị gửi", "Agency"},
	"ev.key":         {"Khóa", "Key"},
	"ev.contrib":     {"Đóng góp (tử/mẫu)", "Counts (num/den)"},
	"ev.data":        {"Dữ liệu", "Data"},
	"page.prev":      {"← Trang trước", "← Previous page"},
	"page.next":      {"Trang sau →", "Next page →"},
	"page.of":        {"đang hiển thị", "showing"},
	"wit":            {"Cần làm gì để đạt", "What it takes"},
	"wit.rule":       {"Cách tính: với chỉ tiêu tính theo năm (hồ sơ, báo cáo, kiểm tra, định danh), số đã ghi nhận từ đầu năm được quy đổi theo số ngày đến thời hạn (31/12 hoặc hạn của mốc) để ước số còn phát sinh; “cần” là số tối thiểu trong đó phải đạt yêu cầu. Với chỉ tiêu tại thời điểm (dịch vụ, cơ quan), “cần” là số phải đạt thêm khi tổng giữ nguyên. Với số lượng, số liệu báo cáo và thứ hạng, “cần” là phần còn thiếu so với chỉ tiêu.", "The rule: for indicators counted per year (dossiers, reports, inspections, e-ID) the items so far this year are scaled by the days to the horizon (31 December, or the milestone's deadline) to estimate the items still to come; “need” is the fewest of them that must count. For indicators at a date (services, agencies), “need” is how many more must qualify with the total unchanged. For counts, reported figures and ranks, “need” is what is missing to the target."},
	"wit.met":        {"Đã đạt chỉ tiêu.", "Target met."},
	"signin":         {"Đăng nhập", "Sign in"},
	"signin.lead":    {"Máy chủ này yêu cầu mã truy cập để xem số liệu. Nhập mã do quản trị hệ thống cấp.", "This server asks for a read token. Enter the one the operators gave you."},
	"signin.token":   {"Mã truy cập", "Read token"},
	"signin.wrong":   {"Mã truy cập không đúng.", "That token is not valid."},
	"notfound":       {"Không tìm thấy trang", "Page not found"},
	"notfound.lead":  {"Không có trang hoặc đơn vị này.", "There is no such page or unit."},
	"error":          {"Có lỗi", "Something went wrong"},
	"error.lead":     {"Không lấy được số liệu. Hãy thử lại sau ít phút.", "The figures could not be read. Try again in a few minutes."},
	"busy":           {"Máy chủ đang bận", "The server is busy"},
	"busy.lead":      {"Có nhiều người đang xem số liệu cùng lúc. Hãy tải lại trang sau vài giây.", "Many people are reading the figures at once. Reload the page in a few seconds."},
	"nodata":         {"chưa có số liệu", "no data"},
	"of":             {"trên", "of"},
	"api":            {"Dữ liệu dạng JSON", "The same as JSON"},
	"ofunits":        {"đơn vị", "units"},
}

// t returns the word for key in lang.
func t(lang, key string) string {
	w, ok := text[key]
	if !ok {
		return key
	}
	if lang == LangEN {
		return w[1]
	}
	return w[0]
}

// statusWords are the status tags: a word and an icon, never colour alone.
var statusWords = map[string][2]string{
	scores.StatusMet:      {"Đạt", "Met"},
	scores.StatusOnTrack:  {"Đúng tiến độ", "On track"},
	scores.StatusAtRisk:   {"Có nguy cơ chậm", "At risk"},
	scores.StatusOffTrack: {"Chậm tiến độ", "Off track"},
	scores.StatusNoData:   {"Chưa có số liệu", "No data"},
	scores.StatusNoTarget: {"Chưa có chỉ tiêu", "No target"},
}

var statusIcons = map[string]string{
	scores.StatusMet:      "✓",
	scores.StatusOnTrack:  "↗",
	scores.StatusAtRisk:   "!",
	scores.StatusOffTrack: "✕",
	scores.StatusNoData:   "?",
	scores.StatusNoTarget: "–",
}

// statuses in the order of the board's counts.
var statuses = []string{scores.StatusMet, scores.StatusOnTrack, scores.StatusAtRisk, scores.StatusOffTrack, scores.StatusNoData}

func statusWord(lang, s string) string {
	w, ok := statusWords[s]
	if !ok {
		return s
	}
	if lang == LangEN {
		return w[1]
	}
	return w[0]
}

var levelWords = map[string][2]string{
	"province":   {"Tỉnh", "Province"},
	"department": {"Sở, ban, ngành", "Departments"},
	"district":   {"Huyện, thành phố", "Districts"},
	"commune":    {"Xã, phường, thị trấn", "Communes"},
}

func levelWord(lang, l string) string {
	w, ok := levelWords[l]
	if !ok {
		return l
	}
	if lang == LangEN {
		return w[1]
	}
	return w[0]
}

var levelOne = map[string][2]string{
	"province":   {"Tỉnh", "Province"},
	"department": {"Sở, ban, ngành", "Department"},
	"district":   {"Huyện, thành phố", "District"},
	"commune":    {"Xã, phường, thị trấn", "Commune"},
}

// levelSingular names the level of one unit.
func levelSingular(lang, l string) string {
	w, ok := levelOne[l]
	if !ok {
		return l
	}
	if lang == LangEN {
		return w[1]
	}
	return w[0]
}

// shortNames label league-table columns; indicators of another catalogue
// fall back to their code.
var shortNames = map[string][2]string{
	"DVC_L4":     {"DVC mức độ 4", "Level-4 services"},
	"DVC_MOBILE": {"DVC trên di động", "Mobile services"},
	"HSCV":       {"Hồ sơ xử lý trên mạng", "Dossiers online"},
	"BAOCAO":     {"Báo cáo qua hệ thống", "Reports via system"},
	"KIEMTRA":    {"Kiểm tra trên môi trường số", "Digital inspections"},
	"DINHDANH":   {"Định danh điện tử", "e-ID authenticated"},
	"DLMO":       {"Cơ quan mở dữ liệu", "Agencies with open data"},
	"KTS_GRDP":   {"Kinh tế số / GRDP", "Digital economy / GRDP"},
	"KTS_NGANH":  {"Kinh tế số ngành thấp nhất", "Digital share, weakest sector"},
	"NSLD":       {"Tăng năng suất lao động", "Productivity growth"},
	"DNS":        {"Doanh nghiệp số", "Digital enterprises"},
	"DTI_RANK":   {"Xếp hạng DTI", "DTI rank"},
}

func shortName(lang, code string) string {
	w, ok := shortNames[code]
	if !ok {
		return code
	}
	if lang == LangEN {
		return w[1]
	}
	return w[0]
}

// work names what a Gap's Need counts for each indicator: the things and
// what they must be. Indicators of another catalogue fall back to generic words.
var work = map[string][4]string{ // vi noun, vi criterion, en noun, en criterion
	"DVC_L4":     {"dịch vụ công", "đạt mức độ 4", "public services", "at level 4"},
	"DVC_MOBILE": {"dịch vụ mức độ 4", "dùng được trên di động", "level-4 services", "usable on mobile"},
	"HSCV":       {"hồ sơ công việc", "xử lý trên môi trường mạng", "work dossiers", "processed online"},
	"BAOCAO":     {"báo cáo định kỳ", "gửi qua Hệ thống thông tin báo cáo", "periodic reports", "made on the reporting system"},
	"KIEMTRA":    {"cuộc kiểm tra", "thực hiện trên môi trường số", "inspections", "carried out digitally"},
	"DINHDANH":   {"lượt sử dụng dịch vụ", "xác thực qua định danh điện tử", "service sessions", "authenticated through the e-ID"},
	"DLMO":       {"cơ quan", "công bố dữ liệu mở", "agencies", "publishing open data"},
	"DNS":        {"doanh nghiệp số", "", "digital enterprises", ""},
	"KTS_GRDP":   {"tỷ đồng giá trị kinh tế số", "", "bn VND of digital economy", ""},
	"KTS_NGANH":  {"tỷ đồng kinh tế số ở ngành thấp nhất", "", "bn VND of digital economy in the weakest sector", ""},
	"NSLD":       {"triệu đồng/lao động năng suất năm nay", "", "mn VND per worker of this year's productivity", ""},
}

func workWords(lang, code string) (noun, criterion string) {
	w, ok := work[code]
	if !ok {
		if lang == LangEN {
			return "items", "counted"
		}
		return "mục", "được tính"
	}
	if lang == LangEN {
		return w[2], w[3]
	}
	return w[0], w[1]
}

// indName is the indicator's full name in lang.
func indName(lang string, ind catalog.Indicator) string {
	if lang == LangEN && ind.NameEN != "" {
		return ind.NameEN
	}
	return ind.NameVI
}

// num formats v with up to dec decimals (trailing zeros dropped), grouped
// in thousands: 1.234,5 in Vietnamese, 1,234.5 in English.
func num(lang string, v float64, dec int) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', dec, 64)
	if dec > 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	intPart, frac, _ := strings.Cut(s, ".")
	group, point := ".", ","
	if lang == LangEN {
		group, point = ",", "."
	}
	var b strings.Builder
	if v < 0 && s != "0" {
		b.WriteString("−")
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(group)
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString(point + frac)
	}
	return b.String()
}

// measureValue formats a value in its indicator's measure: ratios and
// growth as percentages, counts and ranks as whole numbers.
func measureValue(lang string, m catalog.Measure, v float64) string {
	switch m {
	case catalog.MeasureRatio:
		return num(lang, v*100, 1) + " %"
	case catalog.MeasureGrowth:
		s := num(lang, v*100, 1) + " %"
		if v > 0 {
			s = "+" + s
		}
		return s
	case catalog.MeasureRank:
		if lang == LangEN {
			return "#" + num(lang, v, 0)
		}
		return "hạng " + num(lang, v, 0)
	}
	return num(lang, v, 1)
}

// period says what was counted in words: the engine writes "at D",
// "A/B", "year Y", "year Y over Z", "year Y, sector S", "no report up to D".
func period(lang, p string) string {
	if lang == LangEN {
		return strings.Replace(p, "/", " – ", 1)
	}
	r := strings.NewReplacer("no report up to ", "chưa có báo cáo đến ", "at ", "tại ngày ", "year ", "năm ", " over ", " so với năm ",
		", sector ", ", ngành ", " only: growth needs two reported years", " (cần báo cáo của hai năm để tính tăng trưởng)", "/", " – ")
	return r.Replace(p)
}
