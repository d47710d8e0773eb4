package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"okrbot/cards"
	"okrbot/internal/feishu"
	"okrbot/internal/okr"
)

// CheckTimeout bounds `okrbot check` as a whole.
const CheckTimeout = 18 * time.Second

// Check tries the configuration against the Open Platform and writes one
// line per check to w, then the tenant's period rules. It reports whether
// every check passed.
func (a *App) Check(ctx context.Context, w io.Writer) bool {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	ok := true
	line := func(name string, err error, detail string) {
		status := "ok"
		if err != nil {
			status, detail, ok = "FAIL", explain(err), false
		}
		fmt.Fprintf(w, "%-13s %-4s %s\n", name, status, detail)
	}
	line("config", nil, fmt.Sprintf("app %s, base URL %s", a.Config.Feishu.AppID, a.Config.Feishu.BaseURL))

	if _, err := a.Tokens.Token(ctx); err != nil {
		line("token", err, "")
		fmt.Fprintln(w, "skipped: OKR scope, default rule and bot info need a token")
		return false
	}
	line("token", nil, "tenant access token fetched")

	rules, err := a.Platform.ListRules(ctx)
	line("okr scope", err, fmt.Sprintf("%d period rules readable", len(rules)))

	if id := a.Config.OKR.DefaultPeriodRuleID; id == "" {
		fmt.Fprintf(w, "%-13s %-4s %s\n", "default rule", "-", "none configured: /newperiod without a rule offers buttons")
	} else if err != nil {
		fmt.Fprintf(w, "%-13s %-4s %s\n", "default rule", "-", "not checked: the rules could not be read")
	} else {
		var derr error
		if !hasRule(rules, id) {
			derr = fmt.Errorf("okr.default_period_rule_id %s is not one of the tenant's rules (see the list below)", id)
		}
		line("default rule", derr, id)
	}

	openID, err := a.Platform.BotOpenID(ctx)
	line("bot info", err, "bot open_id "+openID)

	if len(rules) > 0 {
		fmt.Fprintln(w, "\nperiod rules (pick one for okr.default_period_rule_id):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tTYPE\tLENGTH\tFIRST MONTH\tIN WORDS")
		for _, r := range rules {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\n", r.ID, r.Type, r.Length, r.FirstMonth,
				cards.RuleName(r).EN)
		}
		tw.Flush()
	}
	return ok
}

func hasRule(rules []okr.Rule, id string) bool {
	for _, r := range rules {
		if r.ID == id {
			return true
		}
	}
	return false
}

// explain turns a check failure into one line a Feishu admin can act on.
func explain(err error) string {
	var e *okr.Error
	switch {
	case errors.Is(err, feishu.ErrCredentials):
		return "app credentials rejected: check FEISHU_APP_ID and FEISHU_APP_SECRET (" + err.Error() + ")"
	case errors.As(err, &e) && e.Answered() && e.Code == 99991672:
		return "missing scope: grant okr:okr in the developer console and publish a new version (" + err.Error() + ")"
	case errors.As(err, &e) && e.Answered():
		if entry, ok := cards.Lookup(e.Code); ok {
			return fmt.Sprintf("%s: %s (%s)", entry.Meaning.EN, entry.Advice.EN, err)
		}
		return err.Error()
	case errors.As(err, &e), errors.Is(err, context.DeadlineExceeded):
		return "Open Platform unreachable: check feishu.base_url and the network (" + err.Error() + ")"
	}
	return err.Error()
}
