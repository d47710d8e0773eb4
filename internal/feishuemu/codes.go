package feishuemu

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Feishu codes the emulator answers. Only the ones other packages are likely
// to compare against are exported.
const (
	CodeOK                  = 0
	CodeInvalidParam        = 10003    // token endpoint: bad request body
	CodeAppSecretInvalid    = 10014    // token endpoint: wrong app_id or app_secret
	CodeRateLimited         = 99991400 // HTTP 429
	CodeTokenMissing        = 99991661
	CodeTokenInvalid        = 99991663 // unknown, expired or revoked tenant token
	CodeUserTokenNotSupport = 99991668
	CodeTokenBadFormat      = 99991671
	CodeScopeMissing        = 99991672
	CodeOKRUnknown          = 1009999
	CodeOKRInvalidParams    = 1001001
	CodeOKRNoPermission     = 1001002
	CodeOKRNotFound         = 1001004
	CodeOKRConflict         = 1001008
	CodeOKRStartMismatch    = 1001009
	CodeIMInvalidParam      = 230001
	CodeIMRecalled          = 230011
	CodeIMTooLong           = 230025
	CodeIMNoPermission      = 230027
	CodeIMTooOld            = 230031
	CodeIMCardInvalid       = 230099
	CodeCardTokenFormat     = 300020
	CodeCardTokenExpired    = 300030
	CodeCardTokenUsedUp     = 300040
	CodeCardFormatInvalid   = 11311
)

// codeInfo returns the HTTP status and documented msg of a Feishu code
// (docs/feishu.md §5.3, §6.6, §3.6, §4.1, §7). Unknown codes answer HTTP 400.
func codeInfo(code int) (int, string) {
	switch code {
	case 0:
		return http.StatusOK, "success"
	case CodeInvalidParam:
		return 400, "invalid param"
	case CodeAppSecretInvalid:
		return 400, "app secret invalid"
	case CodeRateLimited:
		return http.StatusTooManyRequests, "request trigger frequency limit"
	case 99991201:
		return http.StatusNotFound, "resource not find"
	case CodeTokenMissing:
		return 400, "Missing access token for authorization. Please make a request with token attached."
	case CodeTokenInvalid:
		return 400, "Invalid access token for authorization. Please make a request with token attached."
	case 99991664:
		return 400, "invalid app token"
	case CodeUserTokenNotSupport:
		return 400, "user access token not support"
	case CodeTokenBadFormat:
		return 400, "Invalid token: must start with t-/u-"
	case CodeScopeMissing:
		return 400, "Access denied. One of the following scopes is required."
	case 99991401:
		return 400, "ip is denied by app setting"
	case CodeOKRUnknown:
		return 500, "Unknown error. Please try again later."
	case 1009998:
		return 500, "system exception"
	case CodeOKRInvalidParams:
		return 400, "Invalid parameters. Please check document and modify accordingly."
	case CodeOKRNoPermission:
		return 403, "No permission."
	case 1001003:
		return 400, "User not found."
	case CodeOKRNotFound:
		return 400, "OKR data not found."
	case 1000403:
		return 403, "OpenAPI is unavailable in current edition (Standard edition). Please update to Business edition."
	case CodeOKRConflict:
		return 400, "Conflict period existed."
	case CodeOKRStartMismatch:
		return 400, "Start date does not fit for given period rule."
	case CodeIMInvalidParam:
		return 400, "Your request contains an invalid request parameter."
	case 230002:
		return 400, "The bot is not in the chat."
	case CodeIMRecalled:
		return 400, "The message was withdrawn."
	case 230020:
		return 400, "This operation triggers the frequency limit."
	case CodeIMTooLong:
		return 400, "The content of the message exceeds the limit."
	case CodeIMNoPermission:
		return 400, "Lack of necessary permissions."
	case CodeIMTooOld:
		return 400, "The message is too old to be updated."
	case CodeIMCardInvalid:
		return 400, "Failed to create card content."
	case CodeCardTokenFormat:
		return 400, "invalid token, the token must start with c-"
	case CodeCardTokenExpired:
		return 400, "token expired"
	case CodeCardTokenUsedUp:
		return 400, "token used too many times"
	case CodeCardFormatInvalid:
		return 400, "card format invalid"
	case 100000:
		return 400, "card content exceeds the limit"
	case 100030:
		return 400, "params is not valid json"
	case 200000:
		return 400, "card has been recalled"
	case 5000, 1500, 2200, 10101:
		return 500, "internal error, please try again later"
	}
	return 400, fmt.Sprintf("emulated error %d", code)
}

// CodeStatus returns the HTTP status the emulator (and Feishu, per the
// documented tables) answers with a code.
func CodeStatus(code int) int { s, _ := codeInfo(code); return s }

// CodeMsg returns the documented msg of a code.
func CodeMsg(code int) string { _, m := codeInfo(code); return m }

// marshal encodes v without HTML escaping, as Feishu does: card markdown
// with "<font>" or "&#60;" must come back byte-identical to what was sent.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("feishuemu: marshal %T: %v", v, err)) // only our own values are marshalled
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func okAnswer(msg string, data any) answer {
	body := map[string]any{"code": 0, "msg": msg}
	if data != nil {
		body["data"] = data
	}
	return answer{status: http.StatusOK, body: marshal(body)}
}

// errAnswer builds a Feishu error answer with the code's documented status;
// an empty msg takes the documented one. extra is merged into "error".
func errAnswer(logID string, code int, msg string, extra map[string]any) answer {
	status, _ := codeInfo(code)
	return errAnswerStatus(logID, status, code, msg, extra)
}

func errAnswerStatus(logID string, status, code int, msg string, extra map[string]any) answer {
	if msg == "" {
		_, msg = codeInfo(code)
	}
	detail := map[string]any{
		"log_id": logID,
		"troubleshooter": fmt.Sprintf("排查建议查看（Troubleshooting suggestions）： https://open.feishu.cn/search?from=openapi&log_id=%s&code=%d&method_id=7000000000000000000",
			logID, code),
	}
	for k, v := range extra {
		detail[k] = v
	}
	return answer{status: status, code: code, body: marshal(map[string]any{"code": code, "msg": msg, "error": detail})}
}

// newLogID returns a log id in Feishu's shape: a timestamp and 20 hex digits.
func newLogID(t time.Time) string {
	return t.UTC().Format("20060102150405") + strings.ToUpper(randHex(10))
}

// randHex returns 2n random lowercase hex digits.
func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("feishuemu: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func itoa(n int) string { return strconv.Itoa(n) }

func msString(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
