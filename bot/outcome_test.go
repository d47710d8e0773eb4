package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want Outcome
	}{
		{nil, OutcomeOK},
		{&APIError{Code: 99991663}, OutcomeTokenInvalid},
		{&APIError{Code: 99991671}, OutcomeTokenInvalid},
		{&APIError{Code: 99991664}, OutcomeTokenInvalid},
		{&APIError{Code: 99991400, HTTPStatus: 429}, OutcomeRateLimited},
		{&APIError{Code: 0, HTTPStatus: http.StatusTooManyRequests}, OutcomeRateLimited},
		{&APIError{Code: 1009999, HTTPStatus: 500}, OutcomeTransient},
		{&APIError{Code: 5000, HTTPStatus: 502}, OutcomeTransient},
		{&APIError{Code: 230020}, OutcomeTransient},
		{&APIError{Code: 1001008, HTTPStatus: 400}, OutcomePermanent},
		{&APIError{Code: 99991672, HTTPStatus: 400}, OutcomePermanent},
		{transportError("x", &larkcore.ClientTimeoutError{}), OutcomeTransient},
		{transportError("x", errors.New("connection reset")), OutcomeTransient},
		{fmt.Errorf("tenant token: %w", &APIError{Code: 10014}), OutcomePermanent},
		{context.DeadlineExceeded, OutcomeTransient},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if !errors.Is(transportError("x", &larkcore.ClientTimeoutError{}), ErrTimeout) {
		t.Error("a client timeout is not ErrTimeout")
	}
	if !errors.Is(transportError("x", errors.New("refused")), ErrNetwork) {
		t.Error("a refused connection is not ErrNetwork")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond, Budget: time.Second}
	tests := []struct {
		name  string
		errs  []error
		calls int
	}{
		{"success first", []error{nil}, 1},
		{"transient then success", []error{&APIError{HTTPStatus: 500}, nil}, 2},
		{"permanent is not repeated", []error{&APIError{Code: 1001008}}, 1},
		{"gives up after attempts", []error{&APIError{HTTPStatus: 500}, &APIError{HTTPStatus: 500}, &APIError{HTTPStatus: 500}, nil}, 3},
	}
	for _, tt := range tests {
		calls := 0
		err := b.Do(context.Background(), func(context.Context) error {
			calls++
			return tt.errs[calls-1]
		})
		if calls != tt.calls {
			t.Errorf("%s: %d calls, want %d", tt.name, calls, tt.calls)
		}
		if want := tt.errs[calls-1]; !errors.Is(err, want) && err != want {
			t.Errorf("%s: err %v, want %v", tt.name, err, want)
		}
	}
	// A rate-limit reset longer than the budget is not waited for.
	calls := 0
	start := time.Now()
	_ = Backoff{Attempts: 3, Base: time.Millisecond, Max: time.Minute, Budget: 100 * time.Millisecond}.Do(context.Background(),
		func(context.Context) error { calls++; return &APIError{Code: 99991400, RetryAfter: time.Minute} })
	if calls != 1 || time.Since(start) > 10*time.Second {
		t.Errorf("waited for a reset past the budget: %d calls", calls)
	}
}

func TestReachability(t *testing.T) {
	var p TokenProvider
	if p.Unreachable() != 0 {
		t.Fatal("a fresh provider is unreachable")
	}
	p.reach.observe(transportError("x", errors.New("refused")))
	time.Sleep(time.Millisecond)
	if p.Unreachable() <= 0 {
		t.Fatal("a transport failure does not count")
	}
	p.reach.observe(&APIError{Code: 1001008})
	if p.Unreachable() != 0 {
		t.Fatal("an answer (even an error code) does not reset it")
	}
}

func TestButtonValues(t *testing.T) {
	s := buttonSigner{key: []byte("k")}
	v := s.value(buttonValue{Op: opRetry, Month: "2022-01", Rule: "7290000000000000001", Source: "om_1", Attempt: 2, TimedOut: true})
	raw := map[string]any{}
	for k, x := range v {
		raw[k] = x
	}
	got, err := s.open(raw)
	if err != nil || got.Month != "2022-01" || got.Attempt != 2 || !got.TimedOut || got.Rule != "7290000000000000001" {
		t.Fatalf("open(value) = %+v, %v", got, err)
	}
	other := buttonSigner{key: []byte("other")}
	if _, err := other.open(raw); !errors.Is(err, errForged) {
		t.Error("a value signed with another key was accepted")
	}
	// A well-signed value with a malformed month is still refused.
	bad := s.value(buttonValue{Op: opPick, Month: "2022-13", Rule: "1", Source: "om_1", Attempt: 1})
	rawBad := map[string]any{}
	for k, x := range bad {
		rawBad[k] = x
	}
	if _, err := s.open(rawBad); !errors.Is(err, errForged) {
		t.Error("a signed value with month 13 was accepted")
	}
	if _, err := (buttonSigner{}).open(raw); !errors.Is(err, errForged) {
		t.Error("a signer without a key accepted a value")
	}
}
