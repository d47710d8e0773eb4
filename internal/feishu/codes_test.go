package feishu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"

	"okrbot/internal/okr"
)

// TestClassify is the code table read back: every code codes.go names,
// and the HTTP statuses that decide when the code does not.
func TestClassify(t *testing.T) {
	tests := []struct {
		status, code int
		want         okr.Class
	}{
		// The token was refused before the call ran.
		{401, CodeTokenInvalid, okr.ClassTokenInvalid},
		{400, CodeTokenInvalid, okr.ClassTokenInvalid},
		{401, CodeAppTokenInvalid, okr.ClassTokenInvalid},
		{400, CodeTokenMalformed, okr.ClassTokenInvalid},
		// Rate limits, by code or by status alone.
		{http.StatusTooManyRequests, CodeRateLimited, okr.ClassRateLimited},
		{http.StatusOK, CodeRateLimited, okr.ClassRateLimited},
		{http.StatusTooManyRequests, 0, okr.ClassRateLimited},
		{http.StatusTooManyRequests, 12345, okr.ClassRateLimited},
		// Transient: the server's own failures, and the chat rate limit.
		{500, CodeUnknown, okr.ClassTransient},
		{200, CodeUnknown, okr.ClassTransient},
		{500, CodeSystemException, okr.ClassTransient},
		{400, 230020, okr.ClassTransient},
		{500, 0, okr.ClassTransient},
		{502, 5000, okr.ClassTransient},
		{503, 0, okr.ClassTransient},
		{504, 0, okr.ClassTransient},
		// The id names nothing; what was to be made exists.
		{400, CodeNotFound, okr.ClassNotFound},
		{404, CodeNotFound, okr.ClassNotFound},
		{400, CodeConflict, okr.ClassConflict},
		// Refused for good: the card's message was withdrawn, or the card
		// is past its edit window. No retry, no "try again" advice.
		{400, CodeMessageRecalled, okr.ClassFinal},
		{400, CodeEditWindow, okr.ClassFinal},
		{200, CodeEditWindow, okr.ClassFinal},
		// Everything else is permanent: calling again gives the same answer.
		{400, 99991672, okr.ClassPermanent}, // scope missing
		{400, 10014, okr.ClassPermanent},    // wrong app secret
		{400, 1001001, okr.ClassPermanent},  // invalid parameter
		{400, 5000, okr.ClassPermanent},     // a 4xx with an unknown code
		{400, 0, okr.ClassPermanent},
		{404, 0, okr.ClassPermanent},
		{200, 0, okr.ClassPermanent}, // not a failure; never asked
	}
	for _, tt := range tests {
		if got := Classify(tt.status, tt.code); got != tt.want {
			t.Errorf("Classify(%d, %d) = %v, want %v", tt.status, tt.code, got, tt.want)
		}
	}
	// A code's class does not depend on the status it came with, except
	// where the table says so (0: decided by the status).
	for _, code := range []int{CodeTokenInvalid, CodeAppTokenInvalid, CodeTokenMalformed, CodeRateLimited,
		CodeUnknown, CodeSystemException, CodeNotFound, CodeConflict, CodeMessageRecalled, CodeEditWindow} {
		want := Classify(400, code)
		for _, status := range []int{200, 400, 403, 404, 500, 502} {
			if got := Classify(status, code); got != want {
				t.Errorf("Classify(%d, %d) = %v, but %v with HTTP 400", status, code, got, want)
			}
		}
	}
}

// TestClassRetryable pins which classes a Retry button or the backoff may
// repeat.
func TestClassRetryable(t *testing.T) {
	for c, want := range map[okr.Class]bool{
		okr.ClassTransient: true, okr.ClassRateLimited: true, okr.ClassTokenInvalid: true,
		okr.ClassPermanent: false, okr.ClassNotFound: false, okr.ClassConflict: false, okr.ClassFinal: false,
	} {
		if got := c.Retryable(); got != want {
			t.Errorf("%v.Retryable() = %v, want %v", c, got, want)
		}
	}
}

func TestTransportError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error
	}{
		{"client timeout", &larkcore.ClientTimeoutError{}, okr.ErrTimeout},
		{"server timeout", &larkcore.ServerTimeoutError{}, okr.ErrTimeout},
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), okr.ErrTimeout},
		{"refused", errors.New("connection refused"), okr.ErrNetwork},
		{"reset", errors.New("connection reset by peer"), okr.ErrNetwork},
	}
	for _, tt := range tests {
		err := transportError("x", tt.err)
		if !errors.Is(err, tt.kind) {
			t.Errorf("%s: %v is not %v", tt.name, err, tt.kind)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: the cause is lost: %v", tt.name, err)
		}
		if okr.ClassOf(err) != okr.ClassTransient || err.Answered() || !err.MayHaveRun() || okr.CodeOf(err) != -1 {
			t.Errorf("%s: class %v answered %v mayHaveRun %v code %d; want transient, unanswered, may have run, -1",
				tt.name, okr.ClassOf(err), err.Answered(), err.MayHaveRun(), okr.CodeOf(err))
		}
	}
	// Wrapped on the way up, the class survives; a plain deadline is
	// transient too, and any other error permanent.
	wrapped := fmt.Errorf("tenant token: %w", transportError("token", errors.New("refused")))
	if okr.ClassOf(wrapped) != okr.ClassTransient {
		t.Errorf("ClassOf(wrapped transport error) = %v", okr.ClassOf(wrapped))
	}
	if okr.ClassOf(context.DeadlineExceeded) != okr.ClassTransient {
		t.Error("a deadline is not transient")
	}
	if okr.ClassOf(fmt.Errorf("%w: %w", ErrCredentials, &okr.Error{Code: 10014, Class: Classify(400, 10014)})) != okr.ClassPermanent {
		t.Error("rejected credentials are not permanent")
	}
	if okr.ClassOf(errors.New("boom")) != okr.ClassPermanent {
		t.Error("an unknown error is not permanent")
	}
}

func codeError(t *testing.T, body string) larkcore.CodeError {
	t.Helper()
	var ce larkcore.CodeError
	if err := json.Unmarshal([]byte(body), &ce); err != nil {
		t.Fatal(err)
	}
	return ce
}

func apiResp(status int, header map[string]string) *larkcore.ApiResp {
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return &larkcore.ApiResp{StatusCode: status, Header: h}
}

func TestCheckResponse(t *testing.T) {
	if err := CheckResponse("x", apiResp(200, nil), larkcore.CodeError{}); err != nil {
		t.Errorf("a success: %v", err)
	}
	if err := CheckResponse("x", nil, larkcore.CodeError{}); err != nil {
		t.Errorf("no response, no code: %v", err)
	}

	// A 5xx without a code is a failure, whatever the body says.
	err := CheckResponse("list_rules", apiResp(502, map[string]string{larkcore.HttpHeaderKeyLogId: "log-h"}), larkcore.CodeError{})
	var e *okr.Error
	if !errors.As(err, &e) || e.Class != okr.ClassTransient || e.HTTPStatus != 502 || e.LogID != "log-h" || !e.Answered() || !e.MayHaveRun() {
		t.Errorf("a 502: %#v", err)
	}

	// The log id in the body wins over the header's; the class follows the
	// code table.
	err = CheckResponse("patch_message", apiResp(400, map[string]string{larkcore.HttpHeaderKeyLogId: "log-h"}),
		codeError(t, `{"code":230031,"msg":"edit window","error":{"log_id":"log-b"}}`))
	if !errors.As(err, &e) || e.API != "patch_message" || e.Code != CodeEditWindow || e.Msg != "edit window" ||
		e.LogID != "log-b" || e.Class != okr.ClassFinal || e.MayHaveRun() {
		t.Errorf("an edit-window answer: %#v", err)
	}
	if okr.CodeOf(err) != CodeEditWindow {
		t.Errorf("CodeOf = %d", okr.CodeOf(err))
	}

	// A rate-limited answer says how long to wait.
	err = CheckResponse("create_period", apiResp(429, map[string]string{"x-ogw-ratelimit-reset": "7"}),
		codeError(t, `{"code":99991400,"msg":"too many requests"}`))
	if !errors.As(err, &e) || e.Class != okr.ClassRateLimited || e.RetryAfter != 7*time.Second {
		t.Errorf("a rate-limited answer: %#v", err)
	}
	// A 429 without a code (a gateway's) is a rate limit too, not a
	// success; a malformed reset is ignored.
	err = CheckResponse("create_period", apiResp(429, map[string]string{"x-ogw-ratelimit-reset": "soon"}), larkcore.CodeError{})
	if !errors.As(err, &e) || e.Class != okr.ClassRateLimited || e.RetryAfter != 0 {
		t.Errorf("a 429 without a code, with a malformed reset: %#v", err)
	}
	// Any 4xx without a code is a failure, not a success.
	err = CheckResponse("patch_period", apiResp(404, nil), larkcore.CodeError{})
	if !errors.As(err, &e) || e.Class != okr.ClassPermanent || e.HTTPStatus != 404 {
		t.Errorf("a 404 without a code: %#v", err)
	}

	// A token refusal, to be repeated once with a fresh token.
	err = CheckResponse("list_periods", apiResp(400, nil), codeError(t, `{"code":99991663,"msg":"invalid token"}`))
	if okr.ClassOf(err) != okr.ClassTokenInvalid {
		t.Errorf("a token refusal: %v", err)
	}
}
