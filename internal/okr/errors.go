package okr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Class sorts the failure of an Open Platform call by what the caller should
// do about it. internal/feishu holds the one table from Feishu codes to
// classes; the cards' advice and the use cases' retry buttons follow it.
type Class int

// The classes every failure is sorted into.
const (
	ClassPermanent    Class = iota // calling again gives the same answer
	ClassTransient                 // may succeed if called again (5xx, no answer)
	ClassRateLimited               // wait (Error.RetryAfter), then call again
	ClassTokenInvalid              // the token was refused; the call did not run
	ClassNotFound                  // the id names nothing
	ClassConflict                  // what was to be made exists already
	ClassFinal                     // refused for good, e.g. a card past its edit window
)

func (c Class) String() string {
	switch c {
	case ClassTransient:
		return "transient"
	case ClassRateLimited:
		return "rate_limited"
	case ClassTokenInvalid:
		return "token_invalid"
	case ClassNotFound:
		return "not_found"
	case ClassConflict:
		return "conflict"
	case ClassFinal:
		return "final"
	}
	return "permanent"
}

// Retryable reports whether pressing Retry may help.
func (c Class) Retryable() bool {
	return c == ClassTransient || c == ClassRateLimited || c == ClassTokenInvalid
}

// Transport failures: no usable answer came back.
var (
	ErrTimeout = errors.New("timed out")
	ErrNetwork = errors.New("network error")
)

// Error is a failed Open Platform call: an answer with a non-zero code (or
// a 5xx), or no usable answer at all (Err wraps ErrTimeout or ErrNetwork).
type Error struct {
	API        string // which call, e.g. "create_period"
	HTTPStatus int
	Code       int
	Msg        string
	LogID      string
	Class      Class
	RetryAfter time.Duration // from x-ogw-ratelimit-reset on a rate-limit answer
	Err        error         // the transport failure; nil when Feishu answered
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("feishu %s: %v", e.API, e.Err)
	}
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

// Unwrap lets errors.Is find the transport failure and its cause.
func (e *Error) Unwrap() error { return e.Err }

// Answered reports whether Feishu answered the call at all.
func (e *Error) Answered() bool { return e.Err == nil }

// MayHaveRun reports whether a call that changes data may have taken
// effect although it failed: no answer came, or the server failed midway.
func (e *Error) MayHaveRun() bool { return e.Err != nil || e.HTTPStatus >= 500 }

// ClassOf returns the class of a failed call. A deadline that ran out on
// the caller's side is transient; any error that is not an *Error is
// permanent.
func ClassOf(err error) Class {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Class
	case errors.Is(err, context.DeadlineExceeded):
		return ClassTransient
	}
	return ClassPermanent
}

// CodeOf returns the Feishu code of err: the code, 0 for nil, -1 when no
// code came back.
func CodeOf(err error) int {
	var e *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e) && e.Err == nil:
		return e.Code
	}
	return -1
}
