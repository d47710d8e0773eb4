// Package feishu is okrbot's client of the Feishu Open Platform: every call
// goes through the official SDK with a tenant token from TokenProvider, is
// classified by the one code table (Classify), and is retried as its class
// allows. Errors come back as *okr.Error, so the use cases can act on them
// without knowing the SDK.
package feishu

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	lark "github.com/larksuite/oapi-sdk-go/v3"
	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"
	larkokr "github.com/larksuite/oapi-sdk-go/v3/service/okr/v1"
	"golang.org/x/sync/singleflight"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// API names used in logs, metrics and errors.
const (
	apiToken        = "token"
	apiBotInfo      = "bot_info"
	apiListRules    = "list_rules"
	apiCreatePeriod = "create_period"
	apiListPeriods  = "list_periods"
	apiPatchPeriod  = "patch_period"
	apiReply        = "reply"
	apiPatchMessage = "patch_message"
	apiCardUpdate   = "card_update"
)

// idleConnsPerHost keeps enough connections to the Open Platform open for
// every worker: Go's default of 2 made the bot dial again for most calls
// under load (docs/BENCHMARKS.md).
const idleConnsPerHost = 64

// NewSDKClient builds the SDK client the bot uses: its own token cache off
// (the bot passes its token with every call and can drop a bad one), a
// timeout on every request (the SDK sets none by default), and a transport
// that keeps a connection per worker.
func NewSDKClient(appID, appSecret, baseURL string, timeout time.Duration, logger larkcore.Logger) *lark.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = idleConnsPerHost
	transport.MaxIdleConns = 2 * idleConnsPerHost
	opts := []lark.ClientOptionFunc{
		lark.WithOpenBaseUrl(baseURL),
		lark.WithEnableTokenCache(false),
		lark.WithReqTimeout(timeout),
		lark.WithHttpClient(&http.Client{Timeout: timeout, Transport: transport}),
	}
	if logger != nil {
		opts = append(opts, lark.WithLogger(logger), lark.WithLogLevel(larkcore.LogLevelWarn))
	}
	return lark.NewClient(appID, appSecret, opts...)
}

// Client is the bot's way to the Feishu Open Platform. Every call goes
// through the SDK with the provider's tenant token; a token-invalid answer
// drops the token and repeats the call once; reads and replies are retried
// with backoff, creates and status changes never (a call that got no
// answer may have run).
type Client struct {
	client  *lark.Client
	tokens  *TokenProvider
	metrics *Metrics
	timeout time.Duration // per attempt
	reads   Backoff
	now     func() time.Time

	group     singleflight.Group // one bot-info fetch however many ask at once
	mu        sync.Mutex
	botOpenID string
}

// NewClient returns a Client calling through client; timeout bounds each
// request.
func NewClient(client *lark.Client, tokens *TokenProvider, timeout time.Duration, m *Metrics) *Client {
	return &Client{client: client, tokens: tokens, metrics: m, timeout: timeout, reads: DefaultBackoff(), now: tokens.now}
}

type callFunc func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error)

// once makes one logical call: at most two requests, the second only after
// a token-invalid answer (so the first did not run).
func (p *Client) once(ctx context.Context, api string, f callFunc) error {
	for attempt := 0; ; attempt++ {
		tok, err := p.tokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("tenant token: %w", err)
		}
		cctx, cancel := context.WithTimeout(ctx, p.timeout)
		start := p.now()
		resp, ce, err := f(cctx, larkcore.WithTenantAccessToken(tok))
		cancel()
		if err != nil {
			err = transportError(api, err)
		} else {
			err = CheckResponse(api, resp, ce)
		}
		p.tokens.reach.observe(err)
		p.metrics.observe(api, okr.CodeOf(err), p.now().Sub(start))
		if attempt == 0 && okr.ClassOf(err) == okr.ClassTokenInvalid {
			p.tokens.Invalidate(ctx, tok)
			p.metrics.retry(api, "token_invalid")
			continue
		}
		return err
	}
}

// read makes a call that is safe to repeat, with backoff.
func (p *Client) read(ctx context.Context, api string, f callFunc) error {
	first := true
	return p.reads.Do(ctx, func(ctx context.Context) error {
		if !first {
			p.metrics.retry(api, "backoff")
		}
		first = false
		return p.once(ctx, api, f)
	})
}

// CreatePeriod creates a period of rule starting in month. It is never
// repeated automatically: a timeout leaves it unknown whether it ran.
func (p *Client) CreatePeriod(ctx context.Context, ruleID string, month okr.Month) (okr.Created, error) {
	req := larkokr.NewCreatePeriodReqBuilder().Body(larkokr.NewCreatePeriodReqBodyBuilder().
		PeriodRuleId(ruleID).StartMonth(month.String()).Build()).Build()
	var out okr.Created
	err := p.once(ctx, apiCreatePeriod, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
		resp, err := p.client.Okr.V1.Period.Create(ctx, req, tok)
		if err != nil {
			return nil, larkcore.CodeError{}, err
		}
		if resp.Data != nil {
			out = okr.Created{
				PeriodID:   larkcore.StringValue(resp.Data.PeriodId),
				StartMonth: larkcore.StringValue(resp.Data.StartMonth),
				EndMonth:   larkcore.StringValue(resp.Data.EndMonth),
				LogID:      resp.LogId(),
			}
		}
		return resp.ApiResp, resp.CodeError, nil
	})
	if err == nil && out.PeriodID == "" {
		err = &okr.Error{API: apiCreatePeriod, Msg: "answer carried no period_id", Class: okr.ClassPermanent}
	}
	return out, err
}

// ListRules lists the tenant's period rules.
func (p *Client) ListRules(ctx context.Context) ([]okr.Rule, error) {
	var rules []okr.Rule
	err := p.read(ctx, apiListRules, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
		resp, err := p.client.Okr.V1.PeriodRule.List(ctx, tok)
		if err != nil {
			return nil, larkcore.CodeError{}, err
		}
		rules = rules[:0]
		if resp.Data != nil {
			for _, r := range resp.Data.PeriodRules {
				rules = append(rules, okr.Rule{
					ID:         larkcore.StringValue(r.PeriodRuleId),
					Type:       larkcore.StringValue(r.Type),
					Length:     larkcore.IntValue(r.Length),
					FirstMonth: larkcore.IntValue(r.FirstMonth),
				})
			}
		}
		return resp.ApiResp, resp.CodeError, nil
	})
	return rules, err
}

// periodPageSize is modest: Feishu documents no maximum for this API.
const periodPageSize = 50

// ListPeriods lists up to limit periods, following pages. more reports
// whether the tenant has periods beyond limit.
func (p *Client) ListPeriods(ctx context.Context, limit int) (periods []okr.Period, more bool, err error) {
	pageToken := ""
	for {
		b := larkokr.NewListPeriodReqBuilder().PageSize(periodPageSize)
		if pageToken != "" {
			b.PageToken(pageToken)
		}
		req := b.Build()
		var page []okr.Period
		var hasMore bool
		var next string
		err := p.read(ctx, apiListPeriods, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
			resp, err := p.client.Okr.V1.Period.List(ctx, req, tok)
			if err != nil {
				return nil, larkcore.CodeError{}, err
			}
			page = page[:0]
			if d := resp.Data; d != nil {
				hasMore, next = larkcore.BoolValue(d.HasMore), larkcore.StringValue(d.PageToken)
				for _, it := range d.Items {
					page = append(page, okr.Period{
						ID:     larkcore.StringValue(it.Id),
						ZhName: larkcore.StringValue(it.ZhName),
						EnName: larkcore.StringValue(it.EnName),
						Status: okr.Status(larkcore.IntValue(it.Status)),
						Start:  msTime(larkcore.StringValue(it.PeriodStartTime)),
						End:    msTime(larkcore.StringValue(it.PeriodEndTime)),
					})
				}
			}
			return resp.ApiResp, resp.CodeError, nil
		})
		if err != nil {
			return periods, false, err
		}
		periods = append(periods, page...)
		if len(periods) >= limit {
			return periods[:limit], hasMore || len(periods) > limit, nil
		}
		if !hasMore || next == "" || next == pageToken {
			return periods, false, nil
		}
		pageToken = next
	}
}

// PatchPeriod sets a period's status (1 normal, 2 invalid, 3 hidden) and
// returns Feishu's log id of the change, for the audit. Like a create it is
// not repeated automatically.
func (p *Client) PatchPeriod(ctx context.Context, periodID string, status okr.Status) (string, error) {
	req := larkokr.NewPatchPeriodReqBuilder().PeriodId(periodID).Body(larkokr.NewPatchPeriodReqBodyBuilder().
		Status(int(status)).Build()).Build()
	var logID string
	err := p.once(ctx, apiPatchPeriod, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
		resp, err := p.client.Okr.V1.Period.Patch(ctx, req, tok)
		if err != nil {
			return nil, larkcore.CodeError{}, err
		}
		logID = resp.LogId()
		return resp.ApiResp, resp.CodeError, nil
	})
	return logID, err
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Reply answers messageID with card. uuid makes a repeated reply a no-op at
// Feishu, so the call is retried freely.
func (p *Client) Reply(ctx context.Context, messageID, uuid string, card cards.Card) (string, error) {
	content, err := card.Encode()
	if err != nil {
		return "", err
	}
	req := larkim.NewReplyMessageReqBuilder().MessageId(messageID).Body(larkim.NewReplyMessageReqBodyBuilder().
		MsgType("interactive").Content(content).Uuid(uuid).Build()).Build()
	var replyID string
	err = p.read(ctx, apiReply, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
		resp, err := p.client.Im.V1.Message.Reply(ctx, req, tok)
		if err != nil {
			return nil, larkcore.CodeError{}, err
		}
		if resp.Data != nil {
			replyID = larkcore.StringValue(resp.Data.MessageId)
		}
		return resp.ApiResp, resp.CodeError, nil
	})
	return replyID, err
}

// PatchCard replaces the card of a message the bot sent.
func (p *Client) PatchCard(ctx context.Context, messageID string, card cards.Card) error {
	content, err := card.Encode()
	if err != nil {
		return err
	}
	req := larkim.NewPatchMessageReqBuilder().MessageId(messageID).Body(larkim.NewPatchMessageReqBodyBuilder().
		Content(content).Build()).Build()
	return p.read(ctx, apiPatchMessage, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
		resp, err := p.client.Im.V1.Message.Patch(ctx, req, tok)
		if err != nil {
			return nil, larkcore.CodeError{}, err
		}
		return resp.ApiResp, resp.CodeError, nil
	})
}

// UpdateCard replaces a clicked card through the callback's update token
// (the delayed update; not generated in the SDK, so called raw).
func (p *Client) UpdateCard(ctx context.Context, updateToken string, card cards.Card) error {
	body := map[string]any{"token": updateToken, "card": card}
	return p.once(ctx, apiCardUpdate, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
		resp, err := p.client.Post(ctx, "/open-apis/interactive/v1/card/update", body, larkcore.AccessTokenTypeTenant, tok)
		if err != nil {
			return nil, larkcore.CodeError{}, err
		}
		var ce larkcore.CodeError
		if err := json.Unmarshal(resp.RawBody, &ce); err != nil {
			return resp, ce, err
		}
		return resp, ce, nil
	})
}

// BotOpenID returns the bot's own open_id, asking the Open Platform once:
// concurrent callers on a cold start share one request (docs/contract.md §6).
func (p *Client) BotOpenID(ctx context.Context) (string, error) {
	p.mu.Lock()
	id := p.botOpenID
	p.mu.Unlock()
	if id != "" {
		return id, nil
	}
	return shareFetch(ctx, &p.group, apiBotInfo, p.fetchBotOpenID)
}

func (p *Client) fetchBotOpenID(ctx context.Context) (string, error) {
	var info struct {
		larkcore.CodeError
		Bot struct {
			OpenID  string `json:"open_id"`
			AppName string `json:"app_name"`
		} `json:"bot"`
	}
	err := p.read(ctx, apiBotInfo, func(ctx context.Context, tok larkcore.RequestOptionFunc) (*larkcore.ApiResp, larkcore.CodeError, error) {
		resp, err := p.client.Get(ctx, "/open-apis/bot/v3/info", nil, larkcore.AccessTokenTypeTenant, tok)
		if err != nil {
			return nil, larkcore.CodeError{}, err
		}
		if err := json.Unmarshal(resp.RawBody, &info); err != nil {
			return resp, larkcore.CodeError{}, err
		}
		return resp, info.CodeError, nil
	})
	if err != nil {
		return "", err
	}
	if info.Bot.OpenID == "" {
		return "", &okr.Error{API: apiBotInfo, Msg: "answer carried no bot open_id; is the bot capability enabled?", Class: okr.ClassPermanent}
	}
	p.mu.Lock()
	p.botOpenID = info.Bot.OpenID
	p.mu.Unlock()
	return info.Bot.OpenID, nil
}
