package feishuemu

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

type tenantToken struct {
	value   string
	expires time.Time
	revoked bool
}

// TokenFetches returns how many requests reached the token endpoint,
// successful, refused and faulted alike.
func (e *Emulator) TokenFetches() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokenFetches
}

// RevokeTokens invalidates every token issued so far: they answer 99991663
// from now on, and the next token request issues a new token.
func (e *Emulator) RevokeTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.tokens {
		t.revoked = true
	}
	e.current = nil
	e.bumpLocked()
}

// SetAppSecret changes the secret the token endpoint accepts, to simulate a
// rotated secret. Tokens already issued stay valid until their expiry.
func (e *Emulator) SetAppSecret(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appSecret = s
	e.bumpLocked()
}

// RevokeScope withdraws a scope from the app, e.g. "okr:okr": APIs that need
// it then answer 99991672 (HTTP 400) with error.permission_violations.
func (e *Emulator) RevokeScope(scope string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.scopes, scope)
	e.bumpLocked()
}

// GrantScope grants a scope to the app.
func (e *Emulator) GrantScope(scope string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scopes[scope] = true
	e.bumpLocked()
}

// Scopes returns the granted scopes, sorted.
func (e *Emulator) Scopes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scopeListLocked()
}

func (e *Emulator) scopeListLocked() []string {
	out := make([]string, 0, len(e.scopes))
	for s := range e.scopes {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (e *Emulator) hasAnyScopeLocked(scopes ...string) bool {
	for _, s := range scopes {
		if e.scopes[s] {
			return true
		}
	}
	return false
}

// requiredScopes lists, per API, the scopes of which the app needs any one
// (docs/feishu.md §4, §6). Reading OKR data accepts okr:okr:readonly too, but that
// scope is not granted by default, so revoking okr:okr blocks every OKR API.
func requiredScopes(api string) []string {
	switch api {
	case APIListRules, APIListPeriods:
		return []string{"okr:okr", "okr:okr:readonly"}
	case APICreatePeriod, APIPatchPeriod:
		return []string{"okr:okr"}
	case APIReply, APISend:
		return []string{"im:message", "im:message:send_as_bot", "im:message:send"}
	case APIPatchMessage, APICardUpdate:
		return []string{"im:message", "im:message:send_as_bot", "im:message:update"}
	}
	return nil
}

// authorize checks the Authorization header and the API's scopes, in
// Feishu's order: token presence, token format, token validity, scope.
// It returns a non-nil answer when the request must be refused.
func (e *Emulator) authorize(req *request) *answer {
	h := strings.TrimSpace(req.r.Header.Get("Authorization"))
	tok := h
	if len(h) >= 7 && strings.EqualFold(h[:7], "Bearer ") {
		tok = strings.TrimSpace(h[7:])
	}
	var a answer
	switch {
	case tok == "":
		a = errAnswer(req.logID, CodeTokenMissing, "", nil)
	case strings.HasPrefix(tok, "u-"):
		// A user token is well formed, but these APIs take tenant tokens only.
		a = errAnswer(req.logID, CodeUserTokenNotSupport, "", nil)
	case !strings.HasPrefix(tok, "t-"):
		a = errAnswer(req.logID, CodeTokenBadFormat, "", nil)
	default:
		e.mu.Lock()
		t, ok := e.tokens[tok]
		valid := ok && !t.revoked && e.now().Before(t.expires)
		need := requiredScopes(req.api)
		scoped := need == nil || e.hasAnyScopeLocked(need...)
		e.mu.Unlock()
		if !valid {
			a = errAnswer(req.logID, CodeTokenInvalid, "", nil)
			break
		}
		if scoped {
			return nil
		}
		violations := make([]map[string]any, 0, len(need))
		for _, s := range need {
			violations = append(violations, map[string]any{"type": "action_scope_required", "subject": s, "description": ""})
		}
		msg := "Access denied. One of the following scopes is required: [" + strings.Join(need, ", ") +
			"].应用尚未开通所需的应用身份权限：[" + strings.Join(need, ", ") + "]"
		a = errAnswer(req.logID, CodeScopeMissing, msg, map[string]any{"permission_violations": violations})
	}
	return &a
}

// handleToken serves POST /open-apis/auth/v3/tenant_access_token/internal.
// Fields are top level (no "data"), as the real endpoint answers.
func (e *Emulator) handleToken(req *request) answer {
	var in struct {
		AppID     *string `json:"app_id"`
		AppSecret *string `json:"app_secret"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil || in.AppID == nil || in.AppSecret == nil || *in.AppID == "" {
		return errAnswer(req.logID, CodeInvalidParam, "", nil)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if *in.AppID != e.opts.AppID || *in.AppSecret != e.appSecret {
		return errAnswer(req.logID, CodeAppSecretInvalid, "", nil)
	}
	now := e.now()
	ttl := e.opts.TokenTTL
	cur := e.current
	// Feishu's rule (docs/feishu.md §5.2), scaled: the same token while at least a quarter
	// of the lifetime remains, else a new one; the old one lives on until
	// its own expiry.
	if cur == nil || cur.revoked || cur.expires.Sub(now) < ttl/4 {
		cur = &tenantToken{value: "t-g1044" + randHex(17), expires: now.Add(ttl)}
		e.tokens[cur.value] = cur
		e.current = cur
		e.bumpLocked()
	}
	expire := int(cur.expires.Sub(now) / time.Second)
	return answer{status: 200, body: marshal(map[string]any{
		"code": 0, "msg": "ok", "tenant_access_token": cur.value, "expire": expire,
	})}
}

// Tokens returns the tokens issued so far that are still valid.
func (e *Emulator) Tokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	var out []string
	for v, t := range e.tokens {
		if !t.revoked && now.Before(t.expires) {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// handleBotInfo serves GET /open-apis/bot/v3/info; the payload is under a
// top-level "bot" (docs/feishu.md §2.5).
func (e *Emulator) handleBotInfo(req *request) answer {
	if a := e.authorize(req); a != nil {
		return *a
	}
	return answer{status: 200, body: marshal(map[string]any{
		"code": 0, "msg": "ok",
		"bot": map[string]any{
			"activate_status": 2,
			"app_name":        e.opts.BotName,
			"avatar_url":      "https://s1-imfile.feishucdn.com/static-resource/v1/emulator_avatar",
			"ip_white_list":   []string{},
			"open_id":         e.opts.BotOpenID,
		},
	})}
}
