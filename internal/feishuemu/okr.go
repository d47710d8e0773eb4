package feishuemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Rule is an OKR period rule of the tenant.
type Rule struct {
	ID         string // 19-digit decimal
	Type       string // "month" or "year"
	Length     int    // months per period
	FirstMonth int    // 1..12
}

// Period is an OKR period of the tenant.
type Period struct {
	ID         string // 19-digit decimal
	RuleID     string
	StartMonth string // "YYYY-MM"
	EndMonth   string // "YYYY-MM"
	ZhName     string // "2022 年 1 月 - 3 月"; one month "2022 年 1 月"; cross-year "2022 年 11 月 - 2023 年 1 月"
	EnName     string // "Jan - Mar 2022"; "Jan 2022"; "Nov 2022 - Jan 2023"
	Status     int    // 0 after creation; PATCH sets 1 normal, 2 invalid, 3 hidden
}

// Rule ids of DefaultRules.
const (
	MonthlyRuleID   = "7290000000000000001"
	QuarterlyRuleID = "7290000000000000002"
	YearlyRuleID    = "7290000000000000003"
)

// DefaultRules returns the rules a tenant has when Options.Rules is nil:
// monthly (month, 1, 1), quarterly from January (month, 3, 1) and yearly
// (year, 12, 1).
func DefaultRules() []Rule {
	return []Rule{
		{ID: MonthlyRuleID, Type: "month", Length: 1, FirstMonth: 1},
		{ID: QuarterlyRuleID, Type: "month", Length: 3, FirstMonth: 1},
		{ID: YearlyRuleID, Type: "year", Length: 12, FirstMonth: 1},
	}
}

// Rules returns the tenant's period rules.
func (e *Emulator) Rules() []Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Rule(nil), e.rules...)
}

// AddRule adds a period rule. An id is assigned when empty (read it back
// with Rules); Length defaults to 12 for "year" and 1 otherwise, FirstMonth
// to 1.
func (e *Emulator) AddRule(r Rule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r.ID == "" {
		r.ID = e.newIDLocked()
	}
	if r.Type == "" {
		r.Type = "month"
	}
	if r.Length <= 0 {
		r.Length = 1
		if r.Type == "year" {
			r.Length = 12
		}
	}
	if r.FirstMonth < 1 || r.FirstMonth > 12 {
		r.FirstMonth = 1
	}
	e.rules = append(e.rules, r)
	e.bumpLocked()
}

// Periods returns the tenant's periods in creation order.
func (e *Emulator) Periods() []Period {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Period(nil), e.periods...)
}

// AddPeriod adds an existing period without the API's checks and returns it
// completed: an id when empty, EndMonth from the rule's length (or equal to
// StartMonth when the rule is unknown) and the names.
func (e *Emulator) AddPeriod(p Period) Period {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.ID == "" {
		p.ID = e.newIDLocked()
	}
	if p.EndMonth == "" {
		p.EndMonth = p.StartMonth
		if r, ok := e.ruleLocked(p.RuleID); ok {
			if s, ok := parseMonth(p.StartMonth); ok {
				p.EndMonth = s.add(r.Length - 1).String()
			}
		}
	}
	if p.ZhName == "" || p.EnName == "" {
		zh, en := PeriodName(p.StartMonth, p.EndMonth)
		if p.ZhName == "" {
			p.ZhName = zh
		}
		if p.EnName == "" {
			p.EnName = en
		}
	}
	e.periods = append(e.periods, p)
	e.bumpLocked()
	return p
}

func (e *Emulator) ruleLocked(id string) (Rule, bool) {
	for _, r := range e.rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// newIDLocked returns a fresh 19-digit decimal id, unique among rules and
// periods. Ids are sequential so that test output is reproducible.
func (e *Emulator) newIDLocked() string {
	for {
		e.nextID++
		id := strconv.FormatInt(7301000000000000000+e.nextID, 10)
		used := false
		for _, p := range e.periods {
			used = used || p.ID == id
		}
		for _, r := range e.rules {
			used = used || r.ID == id
		}
		if !used {
			return id
		}
	}
}

// month is a calendar month counted from year 0 (index = year*12 + month-1).
type month int

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// parseMonth accepts exactly "YYYY-MM" with MM in 01..12, as the create API
// does.
func parseMonth(s string) (month, bool) {
	if !monthRE.MatchString(s) {
		return 0, false
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:])
	return month(y*12 + m - 1), true
}

func (m month) year() int       { return int(m) / 12 }
func (m month) num() int        { return int(m)%12 + 1 }
func (m month) add(n int) month { return m + month(n) }
func (m month) String() string  { return fmt.Sprintf("%04d-%02d", m.year(), m.num()) }

// start is the first instant of the month in loc, the tenant's zone: Feishu
// gives period boundaries as tenant-local month starts.
func (m month) start(loc *time.Location) time.Time {
	return time.Date(m.year(), time.Month(m.num()), 1, 0, 0, 0, 0, loc)
}

// PeriodName returns the Chinese and English names Feishu gives a period
// spanning startMonth..endMonth ("YYYY-MM"): "2022 年 1 月 - 3 月" /
// "Jan - Mar 2022", one month "2022 年 1 月" / "Jan 2022", across years
// "2022 年 11 月 - 2023 年 1 月" / "Nov 2022 - Jan 2023". Malformed input
// yields empty names.
func PeriodName(startMonth, endMonth string) (zh, en string) {
	s, ok1 := parseMonth(startMonth)
	e, ok2 := parseMonth(endMonth)
	if !ok1 || !ok2 {
		return "", ""
	}
	abbr := func(m month) string { return time.Month(m.num()).String()[:3] }
	switch {
	case s == e:
		return fmt.Sprintf("%d 年 %d 月", s.year(), s.num()), fmt.Sprintf("%s %d", abbr(s), s.year())
	case s.year() == e.year():
		return fmt.Sprintf("%d 年 %d 月 - %d 月", s.year(), s.num(), e.num()),
			fmt.Sprintf("%s - %s %d", abbr(s), abbr(e), s.year())
	default:
		return fmt.Sprintf("%d 年 %d 月 - %d 年 %d 月", s.year(), s.num(), e.year(), e.num()),
			fmt.Sprintf("%s %d - %s %d", abbr(s), s.year(), abbr(e), e.year())
	}
}

// handleListRules serves GET /open-apis/okr/v1/period_rules.
func (e *Emulator) handleListRules(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	items := make([]map[string]any, 0, len(e.rules))
	for _, r := range e.rules {
		items = append(items, map[string]any{
			"period_rule_id": r.ID, "type": r.Type, "length": r.Length, "first_month": r.FirstMonth,
		})
	}
	return okAnswer("success", map[string]any{"period_rules": items})
}

func invalidParam(logID, field, value, why string) answer {
	return errAnswer(logID, CodeOKRInvalidParams, "", map[string]any{
		"field_violations": []map[string]any{{"field": field, "value": value, "description": why}},
	})
}

// handleCreatePeriod serves POST /open-apis/okr/v1/periods.
func (e *Emulator) handleCreatePeriod(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	var in struct {
		PeriodRuleID *string `json:"period_rule_id"`
		StartMonth   *string `json:"start_month"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil {
		return invalidParam(req.logID, "body", "", "the body is not a JSON object of the documented shape")
	}
	if in.PeriodRuleID == nil || *in.PeriodRuleID == "" {
		return invalidParam(req.logID, "period_rule_id", "", "period_rule_id is required")
	}
	if in.StartMonth == nil || *in.StartMonth == "" {
		return invalidParam(req.logID, "start_month", "", "start_month is required")
	}
	start, ok := parseMonth(*in.StartMonth)
	if !ok {
		return invalidParam(req.logID, "start_month", *in.StartMonth, "start_month must be YYYY-MM")
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	rule, ok := e.ruleLocked(*in.PeriodRuleID)
	if !ok {
		return errAnswer(req.logID, CodeOKRNotFound, "", nil)
	}
	if ((start.num()-rule.FirstMonth)%rule.Length+rule.Length)%rule.Length != 0 {
		return errAnswer(req.logID, CodeOKRStartMismatch, "", nil)
	}
	end := start.add(rule.Length - 1)
	for _, p := range e.periods {
		ps, ok1 := parseMonth(p.StartMonth)
		pe, ok2 := parseMonth(p.EndMonth)
		if ok1 && ok2 && ps <= end && start <= pe {
			return errAnswer(req.logID, CodeOKRConflict, "", nil)
		}
	}
	zh, en := PeriodName(start.String(), end.String())
	p := Period{ID: e.newIDLocked(), RuleID: rule.ID, StartMonth: start.String(), EndMonth: end.String(), ZhName: zh, EnName: en}
	e.periods = append(e.periods, p)
	e.bumpLocked()
	return okAnswer("success", map[string]any{"period_id": p.ID, "start_month": p.StartMonth, "end_month": p.EndMonth})
}

// pageToken is the opaque page_token: base64 of {"offset":N}, like the
// tokens in Feishu's documentation examples.
type pageToken struct {
	Offset int `json:"offset"`
}

func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString(marshal(pageToken{Offset: offset}))
}

func decodePageToken(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	var t pageToken
	if json.Unmarshal(b, &t) != nil || t.Offset < 0 {
		return 0, false
	}
	return t.Offset, true
}

// handleListPeriods serves GET /open-apis/okr/v1/periods, in creation order.
func (e *Emulator) handleListPeriods(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	q := req.r.URL.Query()
	size := 10
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return invalidParam(req.logID, "page_size", s, "page_size must be an integer in 1..100")
		}
		size = n
	}
	offset := 0
	if s := q.Get("page_token"); s != "" {
		n, ok := decodePageToken(s)
		if !ok {
			return invalidParam(req.logID, "page_token", s, "page_token is invalid")
		}
		offset = n
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if offset > len(e.periods) {
		offset = len(e.periods)
	}
	end := min(offset+size, len(e.periods))
	items := make([]map[string]any, 0, end-offset)
	for _, p := range e.periods[offset:end] {
		item := map[string]any{"id": p.ID, "zh_name": p.ZhName, "en_name": p.EnName, "status": p.Status}
		s, ok1 := parseMonth(p.StartMonth)
		en, ok2 := parseMonth(p.EndMonth)
		if ok1 && ok2 {
			item["period_start_time"] = msString(s.start(e.opts.Location))
			item["period_end_time"] = msString(en.add(1).start(e.opts.Location).Add(-time.Millisecond))
		}
		items = append(items, item)
	}
	data := map[string]any{"has_more": end < len(e.periods), "items": items}
	if end < len(e.periods) {
		data["page_token"] = encodePageToken(end)
	}
	return okAnswer("success", data)
}

// handlePatchPeriod serves PATCH /open-apis/okr/v1/periods/{period_id}.
func (e *Emulator) handlePatchPeriod(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	var in struct {
		Status *int `json:"status"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil || in.Status == nil {
		return invalidParam(req.logID, "status", "", "status is required")
	}
	if *in.Status < 1 || *in.Status > 3 {
		return invalidParam(req.logID, "status", itoa(*in.Status), "status must be 1, 2 or 3")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.periods {
		if e.periods[i].ID == req.pathID {
			e.periods[i].Status = *in.Status
			e.bumpLocked()
			return okAnswer("success", map[string]any{"period_id": req.pathID, "status": *in.Status})
		}
	}
	return errAnswer(req.logID, CodeOKRNotFound, "", nil)
}
