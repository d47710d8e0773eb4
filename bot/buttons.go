package bot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"okrbot/cards"
)

// Button operations.
const (
	opRetry   = "retry"   // create again after a transient failure
	opPick    = "pick"    // create with the rule picked
	opPeriods = "periods" // list the periods after a conflict
)

// buttonValue is what a button carries back to the bot. It holds only what
// the click needs; everything else is looked up again.
type buttonValue struct {
	Op       string
	Month    string // "YYYY-MM"
	Rule     string
	Source   string // the message the command came in
	Attempt  int
	TimedOut bool
}

// buttonSigner signs button values, so that a value the bot did not make
// is refused before anything else is read from it.
type buttonSigner struct{ key []byte }

func (s buttonSigner) mac(v cards.Value) string {
	h := hmac.New(sha256.New, s.key)
	for _, k := range []string{"op", "m", "r", "src", "n", "t"} {
		h.Write([]byte(k + "=" + v[k] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (s buttonSigner) value(b buttonValue) cards.Value {
	v := cards.Value{"op": b.Op, "src": b.Source}
	if b.Month != "" {
		v["m"] = b.Month
	}
	if b.Rule != "" {
		v["r"] = b.Rule
	}
	if b.Attempt > 0 {
		v["n"] = strconv.Itoa(b.Attempt)
	}
	if b.TimedOut {
		v["t"] = "1"
	}
	v["sig"] = s.mac(v)
	return v
}

// errForged reports a button value the bot did not sign or cannot read.
var errForged = errors.New("bot: button value not made by this bot")

// open checks a clicked value and reads it. It checks the signature and
// then every field as if it had been typed.
func (s buttonSigner) open(raw map[string]any) (buttonValue, error) {
	v := cards.Value{}
	for k, x := range raw {
		str, ok := x.(string)
		if !ok || len(str) > 100 {
			return buttonValue{}, errForged
		}
		v[k] = str
	}
	sig := v["sig"]
	delete(v, "sig")
	if len(s.key) == 0 || sig == "" || !hmac.Equal([]byte(sig), []byte(s.mac(v))) {
		return buttonValue{}, errForged
	}
	b := buttonValue{Op: v["op"], Month: v["m"], Rule: v["r"], Source: v["src"], TimedOut: v["t"] == "1"}
	b.Attempt = atoiOr(v["n"], -1)
	if b.Source == "" || strings.ContainsAny(b.Source, " \n") {
		return buttonValue{}, errForged
	}
	switch b.Op {
	case opPeriods:
		return b, nil
	case opRetry, opPick:
		m, err := ParseMonth(b.Month)
		if err != nil || m.String() != b.Month || !validRuleID(b.Rule) || b.Attempt < 1 {
			return buttonValue{}, errForged
		}
		return b, nil
	}
	return buttonValue{}, errForged
}
