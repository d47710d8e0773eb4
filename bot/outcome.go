package bot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
)

// APIError is an Open Platform answer with a non-zero code.
type APIError struct {
	API        string // which call, e.g. "create_period"
	HTTPStatus int
	Code       int
	Msg        string
	LogID      string
	RetryAfter time.Duration // from x-ogw-ratelimit-reset on a rate-limit answer
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("feishu %s: code %d", e.API, e.Code)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (http %d)", e.HTTPStatus)
	}
	if e.LogID != "" {
		s += " log_id=" + e.LogID
	}
	return s
}

// Transport failures: no usable answer came back.
var (
	ErrTimeout = errors.New("timed out")
	ErrNetwork = errors.New("network error")
)

// TransportError is a call that got no usable answer.
type TransportError struct {
	API  string
	Kind error // ErrTimeout or ErrNetwork
	Err  error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("feishu %s: %v: %v", e.API, e.Kind, e.Err)
}

// Unwrap lets errors.Is find both the kind and the cause.
func (e *TransportError) Unwrap() []error { return []error{e.Kind, e.Err} }

// Codes the bot treats specially.
const (
	codeTokenInvalid    = 99991663
	codeAppTokenInvalid = 99991664
	codeTokenMalformed  = 99991671
	codeRateLimited     = 99991400
	codeUnknown         = 1009999
	codeSystemException = 1009998
	codeChatRateLimited = 230020
	codeConflict        = 1001008
)

// Outcome classifies the result of one Open Platform call.
type Outcome int

// The outcomes every call is sorted into.
const (
	OutcomeOK           Outcome = iota
	OutcomeTokenInvalid         // drop the token and call again once; the call did not run
	OutcomeRateLimited          // wait (RetryAfter) and call again
	OutcomeTransient            // may succeed if called again
	OutcomePermanent            // calling again gives the same answer
)

func (o Outcome) String() string {
	return [...]string{"ok", "token_invalid", "rate_limited", "transient", "permanent"}[o]
}

// Classify sorts err into an Outcome.
func Classify(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Code == codeTokenInvalid || apiErr.Code == codeAppTokenInvalid || apiErr.Code == codeTokenMalformed:
			return OutcomeTokenInvalid
		case apiErr.Code == codeRateLimited || apiErr.HTTPStatus == http.StatusTooManyRequests:
			return OutcomeRateLimited
		case apiErr.Code == codeUnknown || apiErr.Code == codeSystemException || apiErr.Code == codeChatRateLimited,
			apiErr.HTTPStatus >= 500:
			return OutcomeTransient
		}
		return OutcomePermanent
	}
	var te *TransportError
	if errors.As(err, &te) {
		return OutcomeTransient
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return OutcomeTransient
	}
	return OutcomePermanent
}

// codeOf returns the Feishu code of err for metrics: the code, or -1 for a
// transport failure.
func codeOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	if err == nil {
		return 0
	}
	return -1
}

// transportError turns an SDK or net/http error into a *TransportError.
func transportError(api string, err error) error {
	kind := ErrNetwork
	var cte *larkcore.ClientTimeoutError
	var ste *larkcore.ServerTimeoutError
	var nerr net.Error
	switch {
	case errors.As(err, &cte), errors.As(err, &ste), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		kind = ErrTimeout
	}
	return &TransportError{API: api, Kind: kind, Err: err}
}

// apiResult turns an SDK response into nil or an *APIError.
func apiResult(api string, resp *larkcore.ApiResp, ce larkcore.CodeError) error {
	if ce.Code == 0 && (resp == nil || resp.StatusCode < 500) {
		return nil
	}
	e := &APIError{API: api, Code: ce.Code, Msg: ce.Msg}
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
	return e
}

func rateLimitReset(resp *larkcore.ApiResp) time.Duration {
	if resp == nil {
		return 0
	}
	s := resp.Header.Get("x-ogw-ratelimit-reset")
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// Backoff retries a call with capped exponential backoff and jitter.
type Backoff struct {
	Attempts int           // calls in all, the first included
	Base     time.Duration // wait before the second call
	Max      time.Duration // cap on one wait
	Budget   time.Duration // cap on the time spent in all
}

// DefaultBackoff suits reads, replies and token fetches: three calls within
// about 30 s.
var DefaultBackoff = Backoff{Attempts: 3, Base: 500 * time.Millisecond, Max: 10 * time.Second, Budget: 30 * time.Second}

// Do calls f until it succeeds, fails permanently, or the attempts or the
// budget run out. A token-invalid or rate-limited answer waits as told.
func (b Backoff) Do(ctx context.Context, f func(context.Context) error) error {
	start := time.Now()
	wait := b.Base
	var err error
	for attempt := 1; ; attempt++ {
		err = f(ctx)
		o := Classify(err)
		if o == OutcomeOK || o == OutcomePermanent || attempt >= b.Attempts {
			return err
		}
		d := wait/2 + rand.N(wait/2+1)
		var apiErr *APIError
		if o == OutcomeRateLimited && errors.As(err, &apiErr) && apiErr.RetryAfter > d {
			d = apiErr.RetryAfter
		}
		d = min(d, b.Max)
		if b.Budget > 0 && time.Since(start)+d > b.Budget {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(wait*2, b.Max)
	}
}
