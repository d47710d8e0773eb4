package feishuemu

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	larkokr "github.com/larksuite/oapi-sdk-go/v3/service/okr/v1"
)

func TestCreatePeriod(t *testing.T) {
	f := newFixture(t, Options{Rules: append(DefaultRules(), Rule{ID: "7290000000000000009", Type: "month", Length: 3, FirstMonth: 2})})
	// Steps run in order against one tenant: later ones see earlier periods.
	steps := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   int
		wantStart  string
		wantEnd    string
	}{
		{"monthly", `{"period_rule_id":"7290000000000000001","start_month":"2022-01"}`, 200, 0, "2022-01", "2022-01"},
		{"same month again", `{"period_rule_id":"7290000000000000001","start_month":"2022-01"}`, 400, CodeOKRConflict, "", ""},
		{"quarter overlapping the month", `{"period_rule_id":"7290000000000000002","start_month":"2022-01"}`, 400, CodeOKRConflict, "", ""},
		{"quarter on the grid", `{"period_rule_id":"7290000000000000002","start_month":"2022-04"}`, 200, 0, "2022-04", "2022-06"},
		{"quarter off the grid", `{"period_rule_id":"7290000000000000002","start_month":"2022-08"}`, 400, CodeOKRStartMismatch, "", ""},
		{"month inside a quarter", `{"period_rule_id":"7290000000000000001","start_month":"2022-05"}`, 400, CodeOKRConflict, "", ""},
		{"cross-year quarter from Feb grid", `{"period_rule_id":"7290000000000000009","start_month":"2022-11"}`, 200, 0, "2022-11", "2023-01"},
		{"Feb grid off", `{"period_rule_id":"7290000000000000009","start_month":"2023-03"}`, 400, CodeOKRStartMismatch, "", ""},
		{"year off grid", `{"period_rule_id":"7290000000000000003","start_month":"2024-02"}`, 400, CodeOKRStartMismatch, "", ""},
		{"year", `{"period_rule_id":"7290000000000000003","start_month":"2024-01"}`, 200, 0, "2024-01", "2024-12"},
		{"unknown rule", `{"period_rule_id":"123","start_month":"2025-01"}`, 400, CodeOKRNotFound, "", ""},
		{"month without zero", `{"period_rule_id":"7290000000000000001","start_month":"2025-1"}`, 400, CodeOKRInvalidParams, "", ""},
		{"month 13", `{"period_rule_id":"7290000000000000001","start_month":"2025-13"}`, 400, CodeOKRInvalidParams, "", ""},
		{"month 00", `{"period_rule_id":"7290000000000000001","start_month":"2025-00"}`, 400, CodeOKRInvalidParams, "", ""},
		{"slash", `{"period_rule_id":"7290000000000000001","start_month":"2025/01"}`, 400, CodeOKRInvalidParams, "", ""},
		{"missing month", `{"period_rule_id":"7290000000000000001"}`, 400, CodeOKRInvalidParams, "", ""},
		{"missing rule", `{"start_month":"2025-01"}`, 400, CodeOKRInvalidParams, "", ""},
		{"not json", `{"period_rule_id":`, 400, CodeOKRInvalidParams, "", ""},
	}
	for _, s := range steps {
		status, _, raw := f.raw(t, http.MethodPost, "/open-apis/okr/v1/periods", f.token, []byte(s.body))
		m := decode(t, raw)
		if status != s.wantStatus || code(m) != s.wantCode {
			t.Fatalf("%s: got %d %s, want %d code %d", s.name, status, raw, s.wantStatus, s.wantCode)
		}
		if s.wantCode == 0 {
			d := data(m)
			if d["start_month"] != s.wantStart || d["end_month"] != s.wantEnd || len(d["period_id"].(string)) != 19 {
				t.Fatalf("%s: data %v", s.name, d)
			}
		}
	}
	got := f.emu.Periods()
	wantNames := [][2]string{
		{"2022 年 1 月", "Jan 2022"},
		{"2022 年 4 月 - 6 月", "Apr - Jun 2022"},
		{"2022 年 11 月 - 2023 年 1 月", "Nov 2022 - Jan 2023"},
		{"2024 年 1 月 - 12 月", "Jan - Dec 2024"},
	}
	if len(got) != len(wantNames) {
		t.Fatalf("periods %+v", got)
	}
	for i, w := range wantNames {
		if got[i].ZhName != w[0] || got[i].EnName != w[1] || got[i].Status != 0 {
			t.Fatalf("period %d = %+v, want names %v", i, got[i], w)
		}
	}
}

func TestCreatePeriodWithSDK(t *testing.T) {
	f := newFixture(t, Options{})
	resp, err := f.client.Okr.V1.Period.Create(context.Background(), createReq(QuarterlyRuleID, "2022-10"), f.tok())
	if err != nil || !resp.Success() {
		t.Fatalf("%v %+v", err, resp)
	}
	if *resp.Data.StartMonth != "2022-10" || *resp.Data.EndMonth != "2022-12" || *resp.Data.PeriodId != f.emu.Periods()[0].ID {
		t.Fatalf("data %s", resp.RawBody)
	}
	resp, err = f.client.Okr.V1.Period.Create(context.Background(), createReq(QuarterlyRuleID, "2022-11"), f.tok())
	if err != nil || resp.Code != CodeOKRStartMismatch || resp.Msg != "Start date does not fit for given period rule." {
		t.Fatalf("%v %s", err, resp.RawBody)
	}
}

func TestPeriodName(t *testing.T) {
	tests := []struct{ start, end, zh, en string }{
		{"2022-01", "2022-03", "2022 年 1 月 - 3 月", "Jan - Mar 2022"},
		{"2022-01", "2022-01", "2022 年 1 月", "Jan 2022"},
		{"2022-11", "2023-01", "2022 年 11 月 - 2023 年 1 月", "Nov 2022 - Jan 2023"},
		{"2022-13", "2023-01", "", ""},
	}
	for _, tt := range tests {
		zh, en := PeriodName(tt.start, tt.end)
		if zh != tt.zh || en != tt.en {
			t.Errorf("PeriodName(%s, %s) = %q, %q; want %q, %q", tt.start, tt.end, zh, en, tt.zh, tt.en)
		}
	}
}

func TestListPeriodsPaging(t *testing.T) {
	var seed []Period
	for i := 0; i < 25; i++ {
		seed = append(seed, Period{RuleID: MonthlyRuleID, StartMonth: fmt.Sprintf("%04d-%02d", 2020+i/12, i%12+1)})
	}
	f := newFixture(t, Options{Periods: seed})
	ctx := context.Background()

	var ids []string
	token := ""
	pages := 0
	for {
		b := larkokr.NewListPeriodReqBuilder().PageSize(10)
		if token != "" {
			b = b.PageToken(token)
		}
		resp, err := f.client.Okr.V1.Period.List(ctx, b.Build(), f.tok())
		if err != nil || !resp.Success() {
			t.Fatalf("%v %+v", err, resp)
		}
		pages++
		for _, it := range resp.Data.Items {
			ids = append(ids, *it.Id)
		}
		if !*resp.Data.HasMore {
			if resp.Data.PageToken != nil {
				t.Fatalf("page_token on the last page: %s", resp.RawBody)
			}
			break
		}
		if resp.Data.PageToken == nil || len(resp.Data.Items) != 10 {
			t.Fatalf("page %d: %s", pages, resp.RawBody)
		}
		token = *resp.Data.PageToken
	}
	if pages != 3 || len(ids) != 25 {
		t.Fatalf("pages=%d ids=%d", pages, len(ids))
	}
	for i, p := range f.emu.Periods() {
		if ids[i] != p.ID {
			t.Fatalf("item %d = %s, want %s (creation order)", i, ids[i], p.ID)
		}
	}

	// Default page size 10; fields of an item.
	status, m := f.api(t, http.MethodGet, "/open-apis/okr/v1/periods", nil)
	items := data(m)["items"].([]any)
	if status != 200 || len(items) != 10 || data(m)["has_more"] != true {
		t.Fatalf("default page: %d %v", status, m)
	}
	first := items[0].(map[string]any)
	// Boundaries are month starts in the tenant's zone (Asia/Shanghai by
	// default): 2020-01-01T00:00+08:00 is 2019-12-31T16:00Z.
	wantStart := fmt.Sprint(time.Date(2019, 12, 31, 16, 0, 0, 0, time.UTC).UnixMilli())
	wantEnd := fmt.Sprint(time.Date(2020, 1, 31, 16, 0, 0, 0, time.UTC).UnixMilli() - 1)
	if first["zh_name"] != "2020 年 1 月" || first["en_name"] != "Jan 2020" || first["status"] != float64(0) ||
		first["period_start_time"] != wantStart || first["period_end_time"] != wantEnd {
		t.Fatalf("item %v", first)
	}

	for _, q := range []string{"page_size=101", "page_size=0", "page_size=x", "page_token=%21%21"} {
		status, m := f.api(t, http.MethodGet, "/open-apis/okr/v1/periods?"+q, nil)
		if status != 400 || code(m) != CodeOKRInvalidParams {
			t.Errorf("%s: %d %v", q, status, m)
		}
	}
	if status, m := f.api(t, http.MethodGet, "/open-apis/okr/v1/periods?page_size=100", nil); status != 200 ||
		len(data(m)["items"].([]any)) != 25 || data(m)["has_more"] != false {
		t.Fatalf("page_size=100: %d %v", status, m)
	}
}

func TestPatchPeriod(t *testing.T) {
	f := newFixture(t, Options{Periods: []Period{{ID: "7301000000000000777", RuleID: QuarterlyRuleID, StartMonth: "2022-01"}}})
	if p := f.emu.Periods()[0]; p.EndMonth != "2022-03" || p.ZhName != "2022 年 1 月 - 3 月" || p.EnName != "Jan - Mar 2022" {
		t.Fatalf("seeded period not completed: %+v", p)
	}
	ctx := context.Background()
	resp, err := f.client.Okr.V1.Period.Patch(ctx, larkokr.NewPatchPeriodReqBuilder().PeriodId("7301000000000000777").
		Body(larkokr.NewPatchPeriodReqBodyBuilder().Status(2).Build()).Build(), f.tok())
	if err != nil || !resp.Success() || *resp.Data.Status != 2 || *resp.Data.PeriodId != "7301000000000000777" {
		t.Fatalf("%v %+v", err, resp)
	}
	if f.emu.Periods()[0].Status != 2 {
		t.Fatal("status not stored")
	}
	tests := []struct {
		id   string
		body string
		want int
	}{
		{"7301000000000000777", `{"status":4}`, CodeOKRInvalidParams},
		{"7301000000000000777", `{}`, CodeOKRInvalidParams},
		{"7301000000000000000", `{"status":1}`, CodeOKRNotFound},
	}
	for _, tt := range tests {
		status, m := f.api(t, http.MethodPatch, "/open-apis/okr/v1/periods/"+tt.id, decode(t, []byte(tt.body)))
		if status != 400 || code(m) != tt.want {
			t.Errorf("%s %s: %d %v", tt.id, tt.body, status, m)
		}
	}
	// An invalid (status 2) period still blocks re-creation of its months.
	cr, _ := f.client.Okr.V1.Period.Create(ctx, createReq(MonthlyRuleID, "2022-02"), f.tok())
	if cr.Code != CodeOKRConflict {
		t.Fatalf("create over a patched period: %s", cr.RawBody)
	}
}

func TestListRulesWithSDK(t *testing.T) {
	f := newFixture(t, Options{})
	f.emu.AddRule(Rule{Type: "year", FirstMonth: 4})
	added := f.emu.Rules()[3]
	resp, err := f.client.Okr.V1.PeriodRule.List(context.Background(), f.tok())
	if err != nil || !resp.Success() {
		t.Fatalf("%v %+v", err, resp)
	}
	rules := resp.Data.PeriodRules
	if len(rules) != 4 || *rules[1].PeriodRuleId != QuarterlyRuleID || *rules[1].Length != 3 || *rules[1].Type != "month" ||
		*rules[3].PeriodRuleId != added.ID || *rules[3].Length != 12 || *rules[3].FirstMonth != 4 || len(added.ID) != 19 {
		t.Fatalf("rules %s", resp.RawBody)
	}
}

func TestPeriodBoundariesInTenantZone(t *testing.T) {
	seed := []Period{{RuleID: QuarterlyRuleID, StartMonth: "2023-04"}}
	ms := func(y int, m time.Month, d, h int) string {
		return fmt.Sprint(time.Date(y, m, d, h, 0, 0, 0, time.UTC).UnixMilli())
	}
	tests := []struct {
		name      string
		loc       *time.Location
		wantStart string
		wantEnd   string
	}{
		// 2023-04-01T00:00+08:00 .. 2023-07-01T00:00+08:00 - 1 ms.
		{"default Asia/Shanghai", nil, ms(2023, 3, 31, 16), ms(2023, 6, 30, 16)},
		{"UTC tenant", time.UTC, ms(2023, 4, 1, 0), ms(2023, 7, 1, 0)},
		{"fixed -05:00", time.FixedZone("EST", -5*60*60), ms(2023, 4, 1, 5), ms(2023, 7, 1, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Periods: seed, Location: tt.loc})
			if tt.loc == nil && f.emu.Options().Location.String() != "Asia/Shanghai" {
				t.Fatalf("default location %v", f.emu.Options().Location)
			}
			_, m := f.api(t, http.MethodGet, "/open-apis/okr/v1/periods", nil)
			item := data(m)["items"].([]any)[0].(map[string]any)
			end := fmt.Sprint(mustInt(t, tt.wantEnd) - 1)
			if item["period_start_time"] != tt.wantStart || item["period_end_time"] != end {
				t.Fatalf("item %v, want start %s end %s", item, tt.wantStart, end)
			}
		})
	}
}

func TestTenantLocation(t *testing.T) {
	loc := tenantLocation()
	if loc.String() != "Asia/Shanghai" {
		t.Fatalf("zone %q", loc)
	}
	if _, off := time.Date(2023, 4, 1, 0, 0, 0, 0, loc).Zone(); off != 8*60*60 {
		t.Fatalf("offset %d", off)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPatchPeriodStatusesAndFaults covers docs/feishu.md §6.4/§6.6: status 1
// normal, 2 invalid, 3 hidden; anything else 1001001; an unknown id
// 1001004; no permission and a too-low edition as injected faults (403);
// a missing okr:okr scope 99991672.
func TestPatchPeriodStatusesAndFaults(t *testing.T) {
	const id = "7301000000000000888"
	f := newFixture(t, Options{Periods: []Period{{ID: id, RuleID: MonthlyRuleID, StartMonth: "2023-04"}}})
	ctx := context.Background()
	patch := func(status int) *larkokr.PatchPeriodResp {
		t.Helper()
		resp, err := f.client.Okr.V1.Period.Patch(ctx, larkokr.NewPatchPeriodReqBuilder().PeriodId(id).
			Body(larkokr.NewPatchPeriodReqBodyBuilder().Status(status).Build()).Build(), f.tok())
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, st := range []int{3, 1, 2, 1} {
		resp := patch(st)
		if !resp.Success() || *resp.Data.Status != st || *resp.Data.PeriodId != id || f.emu.Periods()[0].Status != st {
			t.Fatalf("status %d: %s", st, resp.RawBody)
		}
	}
	for _, st := range []int{0, -1, 4} {
		if resp := patch(st); resp.Code != CodeOKRInvalidParams || resp.StatusCode != 400 {
			t.Fatalf("status %d: %d %s", st, resp.StatusCode, resp.RawBody)
		}
	}
	for _, c := range []int{CodeOKRNoPermission, 1000403} {
		f.emu.Inject(Fault{API: APIPatchPeriod, Code: c})
		if resp := patch(3); resp.Code != c || resp.StatusCode != 403 || resp.Msg != CodeMsg(c) {
			t.Fatalf("fault %d: %d %s", c, resp.StatusCode, resp.RawBody)
		}
	}
	if f.emu.Periods()[0].Status != 1 {
		t.Fatalf("a refused patch changed the period: %+v", f.emu.Periods()[0])
	}
	f.emu.RevokeScope("okr:okr")
	if resp := patch(3); resp.Code != CodeScopeMissing {
		t.Fatalf("without okr:okr: %s", resp.RawBody)
	}
	f.emu.GrantScope("okr:okr")
	resp, err := f.client.Okr.V1.Period.Patch(ctx, larkokr.NewPatchPeriodReqBuilder().PeriodId("7301000000000000999").
		Body(larkokr.NewPatchPeriodReqBodyBuilder().Status(2).Build()).Build(), f.tok())
	if err != nil || resp.Code != CodeOKRNotFound || resp.Msg != "OKR data not found." {
		t.Fatalf("unknown id: %v %s", err, resp.RawBody)
	}
	if n := f.emu.CallCount(APIPatchPeriod); n != 11 {
		t.Fatalf("patch calls %d", n)
	}
}
