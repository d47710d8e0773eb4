package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"okrbot/cards"
	"okrbot/internal/config"
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
	if a.Config.Feishu.Mode == config.ModeWebSocket {
		// Its errors are worded for the admin already (explain would call a
		// timeout "Open Platform unreachable").
		if detail, err := a.checkLongConn(ctx); err != nil {
			ok = false
			fmt.Fprintf(w, "%-13s %-4s %s\n", "long conn", "FAIL", err)
		} else {
			line("long conn", nil, detail)
		}
	}

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

// WSEndpointTimeout bounds check's request to the long-connection
// endpoint.
const WSEndpointTimeout = 10 * time.Second

// The long-connection endpoint (docs/feishu.md §11) and the codes it answers with
// HTTP 200: 1 and 1000040343 the SDK retries; the others stop it.
const (
	wsEndpointPath     = "/callback/ws/endpoint"
	wsCodeBusy         = 1
	wsCodeInternal     = 1000040343
	wsCodeCredsEmpty   = 1000040344
	wsCodeCredsInvalid = 1000040345
	wsCodeTooManyConns = 1000040350
)

// checkLongConn asks the long-connection endpoint for a WebSocket URL with
// the app's credentials, as the SDK's client does before it dials, and
// says whether a connection can be had. It does not dial: Feishu hands each
// event to one of the app's connections, so even a short-lived one could
// take an event meant for the running bot.
func (a *App) checkLongConn(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, WSEndpointTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"AppID": a.Config.Feishu.AppID, "AppSecret": a.Config.Feishu.AppSecret})
	endpoint := strings.TrimRight(a.Config.Feishu.BaseURL, "/") + wsEndpointPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("long-connection endpoint %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("locale", "zh")
	resp, err := (&http.Client{Timeout: WSEndpointTimeout}).Do(req)
	if err != nil {
		// Drop the request from the error: it names the URL only, but keep
		// the message short.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("long-connection endpoint unreachable: check feishu.base_url and the network (POST %s: %w)", endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("long-connection endpoint: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the long-connection endpoint answered HTTP %d (POST %s); the bot retries by itself, try check again later", resp.StatusCode, endpoint)
	}
	var ans struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
		Data *struct {
			URL          string `json:"URL"`
			ClientConfig *struct {
				PingInterval int `json:"PingInterval"`
			} `json:"ClientConfig"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return "", fmt.Errorf("the long-connection endpoint's answer is not JSON (POST %s): %w", endpoint, err)
	}
	why := fmt.Sprintf("code %d: %s", ans.Code, ans.Msg)
	switch ans.Code {
	case 0:
	case wsCodeCredsEmpty, wsCodeCredsInvalid:
		return "", fmt.Errorf("app credentials rejected by the long-connection endpoint: check FEISHU_APP_ID and FEISHU_APP_SECRET (%s)", why)
	case wsCodeBusy, wsCodeInternal:
		return "", fmt.Errorf("the long-connection endpoint is busy and refused a connection for now; the bot retries by itself, try check again later (%s)", why)
	case wsCodeTooManyConns:
		return "", fmt.Errorf("too many long connections: the app already holds as many as Feishu allows (50); stop stale processes or replicas (%s)", why)
	default:
		return "", fmt.Errorf("the long-connection endpoint refused a connection: check that the app receives events through the long connection (长连接) in the developer console (%s)", why)
	}
	if ans.Data == nil || ans.Data.URL == "" {
		return "", fmt.Errorf("the long-connection endpoint answered without a URL (POST %s)", endpoint)
	}
	u, err := url.Parse(ans.Data.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", fmt.Errorf("the long-connection endpoint answered a URL that is not a WebSocket URL")
	}
	// The URL's query is a one-time ticket: show where it leads, not it.
	detail := fmt.Sprintf("a connection can be had: the endpoint handed out %s://%s%s", u.Scheme, u.Host, u.Path)
	if cc := ans.Data.ClientConfig; cc != nil && cc.PingInterval > 0 {
		detail += fmt.Sprintf(" (ping every %d s)", cc.PingInterval)
	}
	return detail, nil
}
