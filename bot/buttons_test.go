package bot

import (
	"errors"
	"testing"
	"time"

	"okrbot/cards"
	"okrbot/internal/okr"
)

func raw(v cards.Value) map[string]any {
	out := map[string]any{}
	for k, x := range v {
		out[k] = x
	}
	return out
}

func TestButtonValues(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := buttonSigner{key: []byte("k"), now: clock}
	v := s.value(buttonValue{Op: opRetry, Chat: "oc_1", Month: "2022-01", Rule: "7290000000000000001", Source: "om_1", Attempt: 2, TimedOut: true})
	got, err := s.open(raw(v), "oc_1")
	if err != nil || got.Month != "2022-01" || got.Attempt != 2 || !got.TimedOut || got.Rule != "7290000000000000001" {
		t.Fatalf("open(value) = %+v, %v", got, err)
	}
	if _, err := (buttonSigner{key: []byte("other"), now: clock}).open(raw(v), "oc_1"); !errors.Is(err, errForged) {
		t.Error("a value signed with another key was accepted")
	}
	if _, err := (buttonSigner{now: clock}).open(raw(v), "oc_1"); !errors.Is(err, errForged) {
		t.Error("a signer without a key accepted a value")
	}
	// Bound to its chat: replayed in another chat it is refused.
	if _, err := s.open(raw(v), "oc_2"); !errors.Is(err, errOtherChat) {
		t.Errorf("value replayed in another chat: %v", err)
	}
	// Tampering with the chat breaks the signature.
	tampered := raw(v)
	tampered["c"] = "oc_2"
	if _, err := s.open(tampered, "oc_2"); !errors.Is(err, errForged) {
		t.Errorf("value with its chat rewritten: %v", err)
	}
	// Expires after 14 days (Feishu's card update window).
	now = now.Add(ButtonLifetime - time.Minute)
	if _, err := s.open(raw(v), "oc_1"); err != nil {
		t.Errorf("value 14 days minus a minute old refused: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.open(raw(v), "oc_1"); !errors.Is(err, errExpiredValue) {
		t.Errorf("value older than 14 days: %v", err)
	}
}

func TestButtonValueFieldsCheckedLikeTypedInput(t *testing.T) {
	now := time.Now()
	s := buttonSigner{key: []byte("k"), now: func() time.Time { return now }}
	for _, tt := range []struct {
		name string
		v    buttonValue
		ok   bool
	}{
		{"retry", buttonValue{Op: opRetry, Month: "2022-01", Rule: "1", Attempt: 1}, true},
		{"month 13", buttonValue{Op: opPick, Month: "2022-13", Rule: "1", Attempt: 1}, false},
		{"month not canonical", buttonValue{Op: opPick, Month: "2022-1", Rule: "1", Attempt: 1}, false},
		{"rule not digits", buttonValue{Op: opPick, Month: "2022-01", Rule: "1x", Attempt: 1}, false},
		{"attempt zero", buttonValue{Op: opRetry, Month: "2022-01", Rule: "1", Attempt: 0}, false},
		{"span", buttonValue{Op: opSpan, Month: "2023-01", Last: "2023-12", Rule: "1", Attempt: 1, Failed: 5}, true},
		{"span with nothing to retry", buttonValue{Op: opSpan, Month: "2023-01", Last: "2023-12", Rule: "1", Attempt: 1}, false},
		{"confirm", buttonValue{Op: opConfirm, Period: "7301234567890123456", Status: okr.StatusHidden}, true},
		{"confirm status 0", buttonValue{Op: opConfirm, Period: "7301234567890123456", Status: okr.StatusDefault}, false},
		{"confirm status 4", buttonValue{Op: opConfirm, Period: "7301234567890123456", Status: 4}, false},
		{"confirm without period", buttonValue{Op: opConfirm, Status: okr.StatusHidden}, false},
		{"unknown op", buttonValue{Op: "drop", Period: "1"}, false},
	} {
		tt.v.Chat, tt.v.Source = "oc_1", "om_1"
		_, err := s.open(raw(s.value(tt.v)), "oc_1")
		if (err == nil) != tt.ok {
			t.Errorf("%s: open = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
