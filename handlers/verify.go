// Package handlers holds okrbot's receivers: the gin webhook and the long
// connection. A receiver verifies what Feishu sends, decodes it into the
// bot's own Message and Click values, hands them to the bot, and answers;
// the bot decides everything else.
package handlers

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Verification failures. ErrUnauthorized maps to 401, ErrMalformed to 400.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrMalformed    = errors.New("malformed request")
)

// EventHeader is the schema 2.0 envelope header of a verified event.
type EventHeader struct {
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	CreateTime string `json:"create_time"`
	Token      string `json:"token"`
	AppID      string `json:"app_id"`
	TenantKey  string `json:"tenant_key"`
}

// Event types the bot handles.
const (
	EventMessageReceive = "im.message.receive_v1"
	EventCardAction     = "card.action.trigger"
)

// Verifier checks that a request really comes from Feishu for this app
// (README, "Webhook security"). Build it with NewVerifier.
type Verifier struct {
	appID, token, encryptKey string
	block                    cipher.Block // AES-256 with sha256(encrypt key); nil without a key
}

// NewVerifier returns a Verifier for the app's id, verification token and
// encrypt key (empty: bodies are plain and unsigned).
func NewVerifier(appID, verificationToken, encryptKey string) *Verifier {
	v := &Verifier{appID: appID, token: verificationToken, encryptKey: encryptKey}
	if encryptKey != "" {
		// Feishu's AES key is the SHA-256 of the encrypt key; the cipher is
		// made once instead of per request.
		key := sha256.Sum256([]byte(encryptKey))
		v.block, _ = aes.NewCipher(key[:]) // a 32-byte key never fails
	}
	return v
}

// Envelope is a verified request: a URL verification or an event.
type Envelope struct {
	Challenge string // set for url_verification
	Header    EventHeader
	Event     json.RawMessage
}

// IsChallenge reports whether e is a url_verification request.
func (e Envelope) IsChallenge() bool { return e.Challenge != "" }

type wireEnvelope struct {
	Encrypt   *string         `json:"encrypt"`
	Schema    string          `json:"schema"`
	Type      string          `json:"type"`
	Token     string          `json:"token"`
	Challenge string          `json:"challenge"`
	Header    *EventHeader    `json:"header"`
	Event     json.RawMessage `json:"event"`
}

// Open verifies a request body with its headers and returns what it
// carries. Nothing in the body is trusted before its signature (when an
// encrypt key is set) and its verification token have been checked. An
// unsigned body is answered only when it is a url_verification with the
// right token; any other unsigned or wrongly signed body gets the same
// ErrUnauthorized, so the answer never tells whether it decrypted.
func (v *Verifier) Open(h http.Header, body []byte) (Envelope, error) {
	var outer wireEnvelope
	if enc, ok := encryptedBody(body); ok {
		outer.Encrypt = &enc
	} else if err := json.Unmarshal(body, &outer); err != nil {
		return Envelope{}, fmt.Errorf("%w: body is not JSON", ErrMalformed)
	}
	signed := false
	if v.block != nil {
		if outer.Encrypt == nil || *outer.Encrypt == "" {
			return Envelope{}, fmt.Errorf("%w: expected an encrypted body", ErrMalformed)
		}
		if sig := h.Get("X-Lark-Signature"); sig != "" {
			if !v.signatureOK(h, body, sig) {
				return Envelope{}, fmt.Errorf("%w: signature mismatch", ErrUnauthorized)
			}
			signed = true
		}
		plain, err := v.decrypt(*outer.Encrypt)
		outer = wireEnvelope{}
		if err == nil {
			err = json.Unmarshal(plain, &outer)
		}
		if err != nil {
			if !signed {
				return Envelope{}, fmt.Errorf("%w: unsigned body", ErrUnauthorized)
			}
			return Envelope{}, fmt.Errorf("%w: cannot decrypt", ErrMalformed)
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
	if v.block != nil && !signed {
		return Envelope{}, fmt.Errorf("%w: unsigned body", ErrUnauthorized)
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
	if outer.Header.AppID != v.appID {
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

// encryptedBody reads the one shape an encrypted body has,
// {"encrypt":"<base64>"}, without a JSON decoder: base64 needs no escapes,
// so anything else (spaces, escapes, other keys) goes the general way.
func encryptedBody(body []byte) (string, bool) {
	const prefix, suffix = `{"encrypt":"`, `"}`
	if !bytes.HasPrefix(body, []byte(prefix)) || !bytes.HasSuffix(body, []byte(suffix)) || len(body) < len(prefix)+len(suffix) {
		return "", false
	}
	enc := body[len(prefix) : len(body)-len(suffix)]
	if bytes.ContainsAny(enc, `\"`) {
		return "", false
	}
	return string(enc), true
}

// signatureOK checks X-Lark-Signature: hex(sha256(timestamp + nonce +
// encrypt key + body)), in constant time.
func (v *Verifier) signatureOK(h http.Header, body []byte, sig string) bool {
	d := sha256.New()
	d.Write([]byte(h.Get("X-Lark-Request-Timestamp")))
	d.Write([]byte(h.Get("X-Lark-Request-Nonce")))
	d.Write([]byte(v.encryptKey))
	d.Write(body)
	var sum [sha256.Size]byte
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], d.Sum(sum[:0]))
	return subtle.ConstantTimeCompare([]byte(sig), want[:]) == 1
}

// decrypt opens Feishu's encrypt field: base64 of a 16-byte IV followed by
// AES-256-CBC ciphertext of a JSON object. Like the SDK's EventDecrypt it
// keeps what lies between the first "{" and the last "}", which drops the
// PKCS#7 padding however it was made.
func (v *Verifier) decrypt(enc string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, err
	}
	if len(raw) < 2*aes.BlockSize || len(raw)%aes.BlockSize != 0 {
		return nil, errors.New("ciphertext length")
	}
	iv, data := raw[:aes.BlockSize], raw[aes.BlockSize:]
	cipher.NewCBCDecrypter(v.block, iv).CryptBlocks(data, data)
	start, end := bytes.IndexByte(data, '{'), bytes.LastIndexByte(data, '}')
	if start < 0 || end < start {
		return nil, errors.New("not a JSON object")
	}
	return data[start : end+1], nil
}

func (v *Verifier) tokenOK(tok string) bool {
	return v.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(v.token)) == 1
}
