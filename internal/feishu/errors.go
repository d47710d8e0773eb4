package feishu

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"

	"okrbot/internal/okr"
)

// ErrCredentials reports that the Open Platform refused the app id or secret.
var ErrCredentials = errors.New("app credentials rejected")

// transportError turns an SDK or net/http error into an *okr.Error that
// says no usable answer came.
func transportError(api string, err error) *okr.Error {
	kind := okr.ErrNetwork
	var cte *larkcore.ClientTimeoutError
	var ste *larkcore.ServerTimeoutError
	var nerr net.Error
	switch {
	case errors.As(err, &cte), errors.As(err, &ste), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		kind = okr.ErrTimeout
	}
	return &okr.Error{API: api, Class: okr.ClassTransient, Err: &wrapped{kind: kind, err: err}}
}

// wrapped keeps both the kind (ErrTimeout, ErrNetwork) and the cause
// reachable for errors.Is.
type wrapped struct{ kind, err error }

func (w *wrapped) Error() string   { return w.kind.Error() + ": " + w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.kind, w.err} }

// CheckResponse turns an SDK answer into nil or an *okr.Error classified by
// the one code table. Only a 2xx (or 3xx) answer with code 0 is a success:
// a 4xx or 5xx without a code (a 429 from a gateway, say) is a failure too.
func CheckResponse(api string, resp *larkcore.ApiResp, ce larkcore.CodeError) error {
	if ce.Code == 0 && (resp == nil || resp.StatusCode < 400) {
		return nil
	}
	e := &okr.Error{API: api, Code: ce.Code, Msg: ce.Msg}
	if ce.Err != nil {
		e.LogID = ce.Err.LogID
	}
	if resp != nil {
		e.HTTPStatus = resp.StatusCode
		if e.LogID == "" {
			e.LogID = resp.LogId()
		}
		e.RetryAfter = rateLimitReset(resp)
	}
	e.Class = Classify(e.HTTPStatus, e.Code)
	return e
}

func rateLimitReset(resp *larkcore.ApiResp) time.Duration {
	if resp == nil {
		return 0
	}
	if n, err := strconv.Atoi(resp.Header.Get("x-ogw-ratelimit-reset")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}
