package bot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"okrbot/cards"
	"okrbot/internal/okr"
)

// Button operations.
const (
	opRetry   = "retry"   // create again after a transient failure
	opPick    = "pick"    // create with the rule picked
	opPeriods = "periods" // list the periods after a conflict
	opSpan    = "span"    // retry the failed periods of a span
	opChoose  = "choose"  // a period picked among several of one month: ask to confirm
	opManage  = "manage"  // a period's row in /periods: offer its status changes
	opStatus  = "status"  // a status change picked for a period: ask to confirm
	opConfirm = "confirm" // change the period's status
	opCancel  = "cancel"  // leave it as it is
)

// ButtonLifetime is how long a button value is honoured: Feishu lets a bot
// update a card for 14 days, so a button older than that cannot show its
// outcome anyway.
const ButtonLifetime = 14 * 24 * time.Hour

// clickLockTTL outlives every button value, so that a value captured and
// replayed while it is still valid finds its lock taken.
const clickLockTTL = ButtonLifetime + 24*time.Hour

// buttonValue is what a button carries back to the bot. It holds only what
// the click needs; everything else is looked up again.
type buttonValue struct {
	Op       string
	Chat     string    // the chat the card was sent to
	Issued   time.Time // when the value was made
	Source   string    // the message the command came in
	Month    string    // "YYYY-MM"
	Last     string    // span: the last month
	Rule     string
	Attempt  int
	TimedOut bool
	Period   string     // status changes: the period id
	Status   okr.Status // status changes: the status asked for
	Failed   uint64     // span retry: bit i = the span's i-th start month failed
	Created  uint64     // span retry: bit i = it was created by an earlier attempt
}

// signedFields are the value's keys in the order the signature covers them.
var signedFields = [...]string{"op", "c", "e", "src", "m", "l", "r", "n", "t", "p", "s", "f", "k"}

// buttonSigner signs button values, so that a value the bot did not make
// is refused before anything else is read from it.
type buttonSigner struct {
	key []byte
	now func() time.Time
}

func (s buttonSigner) mac(v cards.Value) string {
	h := hmac.New(sha256.New, s.key)
	for _, k := range signedFields {
		h.Write([]byte(k + "=" + v[k] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// value makes the signed value of b for a card in chat.
func (s buttonSigner) value(b buttonValue) cards.Value {
	v := cards.Value{"op": b.Op, "c": b.Chat, "e": strconv.FormatInt(s.now().Unix(), 10), "src": b.Source}
	set := func(k, x string) {
		if x != "" {
			v[k] = x
		}
	}
	set("m", b.Month)
	set("l", b.Last)
	set("r", b.Rule)
	set("p", b.Period)
	if b.Attempt > 0 {
		v["n"] = strconv.Itoa(b.Attempt)
	}
	if b.TimedOut {
		v["t"] = "1"
	}
	if b.Op == opStatus || b.Op == opConfirm || b.Op == opCancel || b.Op == opChoose {
		v["s"] = strconv.Itoa(int(b.Status))
	}
	if b.Failed != 0 {
		v["f"] = strconv.FormatUint(b.Failed, 16)
	}
	if b.Created != 0 {
		v["k"] = strconv.FormatUint(b.Created, 16)
	}
	v["sig"] = s.mac(v)
	return v
}

// Reasons a button value is refused.
var (
	errForged       = errors.New("bot: button value not made by this bot")
	errOtherChat    = errors.New("bot: button value made for another chat")
	errExpiredValue = errors.New("bot: button value expired")
)

// open checks a clicked value and reads it: the signature, the chat it was
// made for, its age, and then every field as if it had been typed.
func (s buttonSigner) open(raw map[string]any, chat string) (buttonValue, error) {
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
	issued, err := strconv.ParseInt(v["e"], 10, 64)
	if err != nil {
		return buttonValue{}, errForged
	}
	b := buttonValue{Op: v["op"], Chat: v["c"], Issued: time.Unix(issued, 0), Source: v["src"],
		Month: v["m"], Last: v["l"], Rule: v["r"], Period: v["p"], TimedOut: v["t"] == "1"}
	if b.Chat == "" || b.Chat != chat {
		return buttonValue{}, errOtherChat
	}
	if age := s.now().Sub(b.Issued); age > ButtonLifetime || age < -5*time.Minute {
		return buttonValue{}, errExpiredValue
	}
	if b.Source == "" || strings.ContainsAny(b.Source, " \n") {
		return buttonValue{}, errForged
	}
	b.Attempt = atoiOr(v["n"], -1)
	b.Status = okr.Status(atoiOr(v["s"], -1))
	if b.Failed, err = parseMask(v["f"]); err != nil {
		return buttonValue{}, errForged
	}
	if b.Created, err = parseMask(v["k"]); err != nil {
		return buttonValue{}, errForged
	}
	month := func(s string) bool { m, err := ParseMonth(s); return err == nil && m.String() == s }
	target := func() bool {
		return validID(b.Period) && (b.Status == okr.StatusNormal || b.Status == okr.StatusInvalid || b.Status == okr.StatusHidden)
	}
	ok := false
	switch b.Op {
	case opPeriods:
		ok = true
	case opRetry, opPick:
		ok = month(b.Month) && validID(b.Rule) && b.Attempt >= 1
	case opSpan:
		ok = month(b.Month) && month(b.Last) && validID(b.Rule) && b.Attempt >= 1 && b.Failed != 0
	case opManage:
		ok = validID(b.Period)
	case opChoose, opStatus, opConfirm, opCancel:
		ok = target()
	}
	if !ok {
		return buttonValue{}, errForged
	}
	return b, nil
}

func parseMask(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 16, 64)
}

// atoiOr parses s, or returns def.
func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
