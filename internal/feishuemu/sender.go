package feishuemu

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Sender posts requests the way Feishu pushes events and callbacks to a bot:
// JSON, encrypted as {"encrypt": ...} when EncryptKey is set, with the
// X-Lark-Request-Timestamp / -Nonce / -Signature headers. The emulator uses
// it for every delivery; tests use it directly to craft good and bad
// requests.
type Sender struct {
	VerificationToken, EncryptKey, AppID, TenantKey string
	Client                                          *http.Client // nil → a client with a 10 s timeout
}

// Response is the bot's answer to a Sender request.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// maxResponseBody bounds what is read of a bot's answer.
const maxResponseBody = 4 << 20

func (s Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Envelope builds a schema 2.0 event envelope with a fresh 32-hex event_id,
// create_time in ms (now), and the sender's token, app_id and tenant_key.
func (s Sender) Envelope(eventType string, event any) map[string]any {
	return s.envelopeAt(eventType, event, msString(time.Now()))
}

func (s Sender) envelopeAt(eventType string, event any, createTime string) map[string]any {
	return map[string]any{
		"schema": "2.0",
		"header": map[string]any{
			"event_id":    randHex(16),
			"event_type":  eventType,
			"create_time": createTime,
			"token":       s.VerificationToken,
			"app_id":      s.AppID,
			"tenant_key":  s.TenantKey,
		},
		"event": event,
	}
}

// Post sends v as JSON; encrypted and signed when EncryptKey is set.
func (s Sender) Post(ctx context.Context, url string, v any) (Response, error) {
	return s.postPlain(ctx, url, marshal(v))
}

// postPlain encrypts (when there is a key), signs and sends a plaintext
// body. Every call gets a fresh timestamp, nonce and IV, so a redelivery of
// the same plaintext has a different body and signature, as on Feishu.
func (s Sender) postPlain(ctx context.Context, url string, plain []byte) (Response, error) {
	body := plain
	if s.EncryptKey != "" {
		enc, err := s.Encrypt(plain)
		if err != nil {
			return Response{}, err
		}
		body = marshal(map[string]string{"encrypt": enc})
	}
	h := http.Header{}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := randHex(8)
	h.Set("X-Lark-Request-Timestamp", ts)
	h.Set("X-Lark-Request-Nonce", nonce)
	if s.EncryptKey != "" {
		h.Set("X-Lark-Signature", s.Sign(ts, nonce, body))
	}
	h.Set("X-Request-Id", randHex(16))
	return s.PostRaw(ctx, url, body, h)
}

// PostRaw sends body as it is with the given headers (Content-Type defaults
// to JSON). It is for crafting requests the bot must refuse.
func (s Sender) PostRaw(ctx context.Context, url string, body []byte, header http.Header) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	for k, v := range header {
		req.Header[k] = append([]string(nil), v...)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return Response{Status: resp.StatusCode, Header: resp.Header}, err
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Encrypt returns base64(iv || AES-256-CBC(sha256(EncryptKey), iv,
// PKCS7(plaintext))) with a random IV, the "encrypt" field of Feishu pushes.
func (s Sender) Encrypt(plaintext []byte) (string, error) {
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	return encryptWithIV(s.EncryptKey, iv, plaintext)
}

func encryptWithIV(key string, iv, plaintext []byte) (string, error) {
	k := sha256.Sum256([]byte(key))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	padded := make([]byte, len(plaintext)+pad)
	copy(padded, plaintext)
	for i := len(plaintext); i < len(padded); i++ {
		padded[i] = byte(pad)
	}
	out := make([]byte, aes.BlockSize+len(padded))
	copy(out, iv)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out[aes.BlockSize:], padded)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Sign returns lowercase hex(sha256(ts + nonce + EncryptKey + body)), the
// X-Lark-Signature of a push (plain SHA-256, not HMAC).
func (s Sender) Sign(ts, nonce string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write([]byte(nonce))
	h.Write([]byte(s.EncryptKey))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Challenge sends the url_verification request Feishu sends when a request
// URL is saved (encrypted when EncryptKey is set). The bot must answer
// {"challenge": <same>} within 1 s.
func (s Sender) Challenge(ctx context.Context, url, challenge string) (Response, error) {
	return s.Post(ctx, url, map[string]any{
		"challenge": challenge,
		"token":     s.VerificationToken,
		"type":      "url_verification",
	})
}
