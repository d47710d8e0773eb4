// Package handlers is okrbot's HTTP surface: it verifies and decrypts what
// Feishu sends, acknowledges it, and hands it to the bot.
package handlers

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	larkevent "github.com/larksuite/oapi-sdk-go/v3/event"

	"okrbot/bot"
)

// Verification failures. ErrUnauthorized maps to 401, ErrMalformed to 400.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrMalformed    = errors.New("malformed request")
)

// Verifier checks that a request really comes from Feishu for this app.
type Verifier struct {
	AppID             string
	VerificationToken string
	EncryptKey        string // empty: bodies are plain and unsigned
}

// Envelope is a verified request: a URL verification or an event.
type Envelope struct {
	Challenge string // set for url_verification
	Header    bot.EventHeader
	Event     json.RawMessage
}

// IsChallenge reports whether e is a url_verification request.
func (e Envelope) IsChallenge() bool { return e.Challenge != "" }

type wireEnvelope struct {
	Encrypt   *string          `json:"encrypt"`
	Schema    string           `json:"schema"`
	Type      string           `json:"type"`
	Token     string           `json:"token"`
	Challenge string           `json:"challenge"`
	Header    *bot.EventHeader `json:"header"`
	Event     json.RawMessage  `json:"event"`
}

// Open verifies a request body with its headers and returns what it
// carries. Nothing in the body is trusted before its signature (when an
// encrypt key is set) and its verification token have been checked.
func (v Verifier) Open(h http.Header, body []byte) (Envelope, error) {
	var outer wireEnvelope
	if err := json.Unmarshal(body, &outer); err != nil {
		return Envelope{}, fmt.Errorf("%w: body is not JSON", ErrMalformed)
	}
	plain := body
	signed := false
	if v.EncryptKey != "" {
		if outer.Encrypt == nil || *outer.Encrypt == "" {
			return Envelope{}, fmt.Errorf("%w: expected an encrypted body", ErrMalformed)
		}
		if sig := h.Get("X-Lark-Signature"); sig != "" {
			want := larkevent.Signature(h.Get("X-Lark-Request-Timestamp"), h.Get("X-Lark-Request-Nonce"), v.EncryptKey, string(body))
			if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
				return Envelope{}, fmt.Errorf("%w: signature mismatch", ErrUnauthorized)
			}
			signed = true
		}
		dec, err := larkevent.EventDecrypt(*outer.Encrypt, v.EncryptKey)
		if err != nil {
			return Envelope{}, fmt.Errorf("%w: cannot decrypt", ErrMalformed)
		}
		plain = dec
		outer = wireEnvelope{}
		if err := json.Unmarshal(plain, &outer); err != nil {
			return Envelope{}, fmt.Errorf("%w: decrypted body is not JSON", ErrMalformed)
		}
	} else if outer.Encrypt != nil {
		return Envelope{}, fmt.Errorf("%w: encrypted body but no encrypt key configured", ErrMalformed)
	}

	if outer.Type == "url_verification" {
		// Feishu's URL check may come unsigned; its token proves it.
		if !v.tokenOK(outer.Token) {
			return Envelope{}, fmt.Errorf("%w: verification token mismatch", ErrUnauthorized)
		}
		if outer.Challenge == "" {
			return Envelope{}, fmt.Errorf("%w: challenge missing", ErrMalformed)
		}
		return Envelope{Challenge: outer.Challenge}, nil
	}
	if v.EncryptKey != "" && !signed {
		return Envelope{}, fmt.Errorf("%w: signature missing", ErrUnauthorized)
	}
	if outer.Header == nil {
		// Schema 1.0 carries its token at the top level. The bot subscribes
		// to no 1.0 event, so a genuine one is acknowledged and ignored.
		if !v.tokenOK(outer.Token) {
			return Envelope{}, fmt.Errorf("%w: verification token mismatch", ErrUnauthorized)
		}
		return Envelope{}, nil
	}
	if !v.tokenOK(outer.Header.Token) {
		return Envelope{}, fmt.Errorf("%w: verification token mismatch", ErrUnauthorized)
	}
	if outer.Header.AppID != v.AppID {
		return Envelope{}, fmt.Errorf("%w: event for another app", ErrUnauthorized)
	}
	if outer.Header.EventID == "" || outer.Header.EventType == "" {
		return Envelope{}, fmt.Errorf("%w: event_id or event_type missing", ErrMalformed)
	}
	if len(outer.Event) == 0 || !bytes.HasPrefix(bytes.TrimSpace(outer.Event), []byte("{")) {
		return Envelope{}, fmt.Errorf("%w: event is not an object", ErrMalformed)
	}
	return Envelope{Header: *outer.Header, Event: outer.Event}, nil
}

func (v Verifier) tokenOK(tok string) bool {
	return v.VerificationToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(v.VerificationToken)) == 1
}
