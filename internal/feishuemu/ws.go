package feishuemu

// The long connection (长连接, docs/feishu.md §11): instead of pushing events and
// card callbacks to the bot's URLs, Feishu hands the bot a WebSocket URL at
// POST /callback/ws/endpoint and sends every message as protobuf data frames
// over the connection the bot opened; the bot answers each with an ACK frame.
// This file is the server side of what the SDK's ws client does, faithful
// enough that larkws.NewClient(..., larkws.WithDomain(emulatorURL)) works
// against it unchanged.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	larkws "github.com/larksuite/oapi-sdk-go/v3/ws"
)

// Delivery modes: how events and card callbacks reach the bot.
const (
	// DeliveryWebhook pushes them to the URLs set with SetBotEndpoints,
	// encrypted and signed as configured.
	DeliveryWebhook = "webhook"
	// DeliveryWebSocket sends them, plain, as data frames over one of the
	// bot's long connections.
	DeliveryWebSocket = "websocket"
)

// Paths of the long connection. A server that mounts the emulator on a mux
// must route both to it (besides /open-apis/).
const (
	// WSEndpointPath is where the SDK asks for a WebSocket URL.
	WSEndpointPath = "/callback/ws/endpoint"
	// WSPath is the WebSocket URL's path; the endpoint's answer names it
	// with a single-use ticket in the query.
	WSPath = "/ws/v2"
)

// APIWSEndpoint is the API name of POST /callback/ws/endpoint in Calls,
// CallCount and Fault.API: an injected fault replaces the endpoint's answer
// (a code-only fault answers HTTP 200, as the endpoint does).
const APIWSEndpoint = "ws_endpoint"

// Codes of the long-connection endpoint and handshake. The SDK retries after
// 1 and 1000040343 and stops on any other non-zero endpoint code; a refused
// handshake stops it on 403, or on 514 with Handshake-Autherrcode 1000040350.
// The credential codes are not in Feishu's documentation; they are the ones
// Feishu's other official SDKs name ("the App ID or App Secret is empty /
// invalid").
const (
	CodeWSSystemBusy         = 1
	CodeWSInternalError      = 1000040343
	CodeWSCredentialsEmpty   = 1000040344
	CodeWSCredentialsInvalid = 1000040345
	CodeWSTooManyConns       = 1000040350
	// WSStatusAuthFailed is the Handshake-Status (and HTTP status) of a
	// handshake refused for authentication or the connection cap.
	WSStatusAuthFailed = 514
	// DefaultWSMaxConns is Feishu's cap on an app's live connections.
	DefaultWSMaxConns = 50
)

// wsServiceID is the service_id of the URLs handed out: the client echoes it
// as the service of its pings. The value is the one Feishu's URLs carry.
const wsServiceID = 33554678

// wsPartGap separates the frames of a split message. The SDK joins parts in
// a goroutine per frame with no lock of its own (ws/client_message.go
// combine); parts arriving back to back can be joined concurrently, which
// loses a part and trips the race detector. Pacing keeps the emulator's
// deliveries deterministic without changing what the bot receives.
const wsPartGap = 50 * time.Millisecond

// wsWriteTimeout bounds one frame write to a client.
const wsWriteTimeout = 10 * time.Second

// maxWSLog is how many entries WSFrames keeps; older ones are dropped so
// that a long-running sandbox (pings every PingInterval) does not grow
// without bound.
const maxWSLog = 5000

// WSClientConfig is the ClientConfig the endpoint hands out with each URL
// and every pong carries, in seconds. The SDK applies all four values as
// given, so none may be zero: a PingInterval of 0 makes its ping loop spin,
// a ReconnectCount of 0 stops it from ever reconnecting.
type WSClientConfig struct {
	// ReconnectCount is how many reconnect attempts the client makes;
	// negative means without end (default -1).
	ReconnectCount int `json:"ReconnectCount"`
	// ReconnectInterval is the wait between reconnect attempts (default
	// 120).
	ReconnectInterval int `json:"ReconnectInterval"`
	// ReconnectNonce bounds the random wait before the first reconnect
	// attempt (default 30).
	ReconnectNonce int `json:"ReconnectNonce"`
	// PingInterval is the time between the client's pings (default 120).
	PingInterval int `json:"PingInterval"`
}

// DefaultWSClientConfig returns Feishu's values: reconnect without end,
// every 120 s after a random 0–30 s, ping every 120 s.
func DefaultWSClientConfig() WSClientConfig {
	return WSClientConfig{ReconnectCount: -1, ReconnectInterval: 120, ReconnectNonce: 30, PingInterval: 120}
}

// withDefaults fills zero fields from DefaultWSClientConfig.
func (c WSClientConfig) withDefaults() WSClientConfig {
	d := DefaultWSClientConfig()
	if c.ReconnectCount == 0 {
		c.ReconnectCount = d.ReconnectCount
	}
	if c.ReconnectInterval <= 0 {
		c.ReconnectInterval = d.ReconnectInterval
	}
	if c.ReconnectNonce <= 0 {
		c.ReconnectNonce = d.ReconnectNonce
	}
	if c.PingInterval <= 0 {
		c.PingInterval = d.PingInterval
	}
	return c
}

// readWait is how long the emulator keeps a silent connection. The client
// pings every PingInterval and gives up on the server after twice that plus
// 5 s; the emulator is a little more patient so that it is always the
// client that notices a dead peer first.
func (c WSClientConfig) readWait() time.Duration {
	return time.Duration(2*c.PingInterval+10) * time.Second
}

// WSRefusal makes the emulator refuse long connections, to simulate an
// outage or a rejected app (see RefuseWS).
type WSRefusal struct {
	// Code answers POST /callback/ws/endpoint with this code (HTTP 200)
	// instead of a URL. CodeWSSystemBusy and CodeWSInternalError are
	// retried by the SDK; other codes stop it. When Code and
	// HandshakeStatus are both 0, Code is CodeWSInternalError.
	Code int
	// Msg is the answer's msg (or Handshake-Msg); a default when empty.
	Msg string
	// HandshakeStatus, with Code 0, lets the endpoint hand out URLs but
	// refuses the WebSocket upgrade with this HTTP status and the same
	// Handshake-Status header. The SDK stops on 403, and on
	// WSStatusAuthFailed with AuthErrCode CodeWSTooManyConns; it retries
	// any other status.
	HandshakeStatus int
	// AuthErrCode is sent as Handshake-Autherrcode when non-zero.
	AuthErrCode int
	// Times is how many attempts are refused; 0 means until AcceptWS.
	Times int
}

// WSConnection describes a live long connection.
type WSConnection struct {
	ID     string // the device_id of the URL it was opened with
	Opened time.Time
	Remote string // the client's address
}

// WSFrame is one entry of the long-connection traffic log: a frame
// exchanged, or a connection opened, closed or refused.
type WSFrame struct {
	Seq    int // position in the log, from 1
	Time   time.Time
	ConnID string
	// Dir is "in" for frames from the bot, "out" for frames to it, and ""
	// for connection events.
	Dir string
	// Type is "ping", "pong", "event" (a data frame to the bot), "ack" (the
	// bot's answer), "open", "close" or "refused".
	Type      string
	MessageID string // header message_id of data frames and ACKs
	Part      int    // header seq of a data frame (0-based)
	Parts     int    // header sum of a data frame
	Size      int    // bytes of the marshalled frame
	Code      int    // an ACK's code
	Note      string // why a connection closed or was refused, etc.
}

// wsAck is the bot's answer to one data message.
type wsAck struct {
	code int
	data []byte
}

// wsTicket is what an endpoint answer promised the upgrade.
type wsTicket struct {
	deviceID string
}

// wsState is the long-connection part of the emulator; guarded by e.mu.
type wsState struct {
	mode      string
	config    WSClientConfig
	maxConns  int
	split     int
	conns     []*wsConn // live, in order of opening
	reserved  int       // upgrades admitted and in progress
	next      int       // round-robin cursor over conns
	tickets   map[string]wsTicket
	pending   map[string]chan wsAck // by data message_id
	refusal   *WSRefusal
	refuseFor int // attempts left to refuse; -1 = until AcceptWS
	log       []WSFrame
	logSeq    int
}

// wsConn is one live connection.
type wsConn struct {
	id     string
	remote string
	opened time.Time
	sock   *websocket.Conn
	done   chan struct{} // closed when the read loop has ended

	writeMu sync.Mutex // gorilla allows one writer at a time
	seq     uint64     // SeqID of the last frame sent; guarded by writeMu
}

// wsError is a long-connection delivery failure. It is a string type so
// that the sentinels below are constants.
type wsError string

func (e wsError) Error() string { return string(e) }

const (
	// errWSNoConn: the bot holds no long connection (the Feishu client
	// reports it like a refused connection).
	errWSNoConn wsError = "feishuemu: the bot has no long connection"
	// errWSTimeout: no ACK within the event or callback timeout.
	errWSTimeout wsError = "feishuemu: no ACK from the bot in time"
	// errWSClosed: the connection closed before the ACK.
	errWSClosed wsError = "feishuemu: the long connection closed before the ACK"
	// errWSBadAck: the ACK's payload is not the SDK's response JSON.
	errWSBadAck wsError = "feishuemu: the ACK payload is not {\"code\":...,\"data\":...}"
)

// initWS sets up the long-connection state from normalised options.
func (e *Emulator) initWS(o Options) {
	e.ws = wsState{
		mode:     o.DeliveryMode,
		config:   o.WSClientConfig,
		maxConns: o.WSMaxConns,
		split:    o.WSSplit,
		tickets:  map[string]wsTicket{},
		pending:  map[string]chan wsAck{},
	}
}

// checkMode panics on a mode other than the two constants: a typo would
// otherwise silently deliver by the wrong transport.
func checkMode(mode string) {
	if mode != DeliveryWebhook && mode != DeliveryWebSocket {
		panic(fmt.Sprintf("feishuemu: unknown delivery mode %q (want %q or %q)", mode, DeliveryWebhook, DeliveryWebSocket))
	}
}

// SetDeliveryMode switches how events and card callbacks are delivered from
// now on (redeliveries included): DeliveryWebhook or DeliveryWebSocket. Any
// other value panics.
func (e *Emulator) SetDeliveryMode(mode string) {
	checkMode(mode)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ws.mode = mode
	e.bumpLocked()
}

// DeliveryMode returns the current delivery mode.
func (e *Emulator) DeliveryMode() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ws.mode
}

// SetWSClientConfig changes the ClientConfig handed out by the endpoint and
// carried by every pong (so connected clients apply it at their next ping).
// Zero fields take DefaultWSClientConfig's values.
func (e *Emulator) SetWSClientConfig(c WSClientConfig) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ws.config = c.withDefaults()
	e.bumpLocked()
}

// SetWSSplit makes every later data message go out as n frames (sum = n,
// seq 0..n-1, one message_id); n < 1 means 1. A message shorter than n bytes
// is split into as many frames as it has bytes.
func (e *Emulator) SetWSSplit(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ws.split = max(n, 1)
	e.bumpLocked()
}

// SetWSMaxConns changes the cap on live connections (n < 1 means
// DefaultWSMaxConns). Connections beyond a lowered cap are not closed; new
// ones are refused until the count is below it.
func (e *Emulator) SetWSMaxConns(n int) {
	if n < 1 {
		n = DefaultWSMaxConns
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ws.maxConns = n
	e.bumpLocked()
}

// RefuseWS refuses long connections as r describes, until AcceptWS (or for
// r.Times attempts). Connections already open stay; drop them with
// DropWSConnections to make the clients reconnect into the refusal.
func (e *Emulator) RefuseWS(r WSRefusal) {
	if r.Code == 0 && r.HandshakeStatus == 0 {
		r.Code = CodeWSInternalError
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ws.refusal = &r
	e.ws.refuseFor = r.Times
	if r.Times <= 0 {
		e.ws.refuseFor = -1
	}
	e.bumpLocked()
}

// AcceptWS ends a refusal set by RefuseWS.
func (e *Emulator) AcceptWS() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ws.refusal = nil
	e.bumpLocked()
}

// takeRefusalLocked returns the refusal that applies to one attempt at the
// endpoint (atEndpoint) or at the upgrade, and counts the attempt.
func (e *Emulator) takeRefusalLocked(atEndpoint bool) *WSRefusal {
	r := e.ws.refusal
	if r == nil || (r.Code != 0) != atEndpoint {
		return nil
	}
	if e.ws.refuseFor > 0 {
		e.ws.refuseFor--
		if e.ws.refuseFor == 0 {
			e.ws.refusal = nil
		}
	}
	return r
}

// WSConnCount returns how many long connections are live.
func (e *Emulator) WSConnCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ws.conns)
}

// WSConnections returns the live long connections, oldest first.
func (e *Emulator) WSConnections() []WSConnection {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]WSConnection, len(e.ws.conns))
	for i, c := range e.ws.conns {
		out[i] = WSConnection{ID: c.id, Opened: c.opened, Remote: c.remote}
	}
	return out
}

// DropWSConnections closes every live connection abruptly (a TCP reset, no
// WebSocket close frame), as a network failure or a gateway restart does,
// and returns how many there were. The SDK's clients reconnect by
// themselves. Deliveries waiting for an ACK on them fail.
func (e *Emulator) DropWSConnections() int {
	e.mu.Lock()
	conns := append([]*wsConn(nil), e.ws.conns...)
	e.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	return len(conns)
}

// WSFrames returns the long-connection traffic log, oldest first (the last
// 5000 entries).
func (e *Emulator) WSFrames() []WSFrame {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]WSFrame(nil), e.ws.log...)
}

// logWSLocked appends to the traffic log.
func (e *Emulator) logWSLocked(f WSFrame) {
	e.ws.logSeq++
	f.Seq, f.Time = e.ws.logSeq, e.now()
	if len(e.ws.log) >= maxWSLog {
		// Copy down rather than reslice, so the dropped entries are freed.
		n := copy(e.ws.log, e.ws.log[len(e.ws.log)-maxWSLog+1:])
		e.ws.log = e.ws.log[:n]
	}
	e.ws.log = append(e.ws.log, f)
	e.bumpLocked()
}

// logWS is logWSLocked for callers that do not hold e.mu.
func (e *Emulator) logWS(f WSFrame) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logWSLocked(f)
}

// closeWS closes every connection for Close; the read loops then end and
// Close waits for them with the other background work.
func (e *Emulator) closeWS() {
	e.DropWSConnections()
}

// handleWSEndpoint serves POST /callback/ws/endpoint: body {"AppID",
// "AppSecret", "ClientAssertion"}; answer {"code":0,"msg":"ok","data":
// {"URL","ClientConfig"}}, errors as HTTP 200 with a code.
func (e *Emulator) handleWSEndpoint(req *request) answer {
	var in struct {
		AppID     string `json:"AppID"`
		AppSecret string `json:"AppSecret"`
	}
	_ = json.Unmarshal(req.body, &in) // a bad body is answered like empty credentials
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return wsCodeAnswer(CodeWSSystemBusy, "")
	}
	// An outage answers before credentials are looked at.
	if r := e.takeRefusalLocked(true); r != nil {
		return wsCodeAnswer(r.Code, r.Msg)
	}
	switch {
	case in.AppID == "" || in.AppSecret == "":
		return wsCodeAnswer(CodeWSCredentialsEmpty, "")
	case in.AppID != e.opts.AppID || in.AppSecret != e.appSecret:
		return wsCodeAnswer(CodeWSCredentialsInvalid, "")
	}
	ticket := randHex(16)
	deviceID := strconv.FormatUint(7000000000000000000+randUint64()%1000000000000000000, 10)
	e.ws.tickets[ticket] = wsTicket{deviceID: deviceID}
	q := url.Values{}
	q.Set("device_id", deviceID)
	q.Set("service_id", strconv.Itoa(wsServiceID))
	q.Set("ticket", ticket)
	// The host the request came in on: the client dials back the same
	// server however it was reached.
	u := "ws://" + req.r.Host + WSPath + "?" + q.Encode()
	return answer{status: http.StatusOK, body: marshal(map[string]any{
		"code": 0, "msg": "ok",
		"data": map[string]any{"URL": u, "ClientConfig": e.ws.config},
	})}
}

// wsCodeAnswer is an endpoint refusal; the SDK reads the code only from an
// HTTP 200 answer (any other status is a retryable server error to it).
func wsCodeAnswer(code int, msg string) answer {
	if msg == "" {
		msg = wsCodeMsg(code)
	}
	return answer{status: http.StatusOK, code: code, body: marshal(map[string]any{"code": code, "msg": msg})}
}

func wsCodeMsg(code int) string {
	switch code {
	case CodeWSSystemBusy:
		return "system busy"
	case CodeWSInternalError:
		return "internal error"
	case CodeWSCredentialsEmpty:
		return "the App ID or App Secret is empty"
	case CodeWSCredentialsInvalid:
		return "the App ID or App Secret is invalid"
	case CodeWSTooManyConns:
		return "exceeded the maximum number of connections"
	}
	return fmt.Sprintf("emulated error %d", code)
}

// refuseHandshake answers an upgrade request with a refusal the SDK reads
// from the Handshake-* headers.
func refuseHandshake(w http.ResponseWriter, status, authCode int, msg string) {
	h := w.Header()
	h.Set(larkws.HeaderHandshakeStatus, strconv.Itoa(status))
	h.Set(larkws.HeaderHandshakeMsg, msg)
	if authCode != 0 {
		h.Set(larkws.HeaderHandshakeAuthErrCode, strconv.Itoa(authCode))
	}
	httpStatus := status
	if httpStatus < 100 || httpStatus > 999 {
		httpStatus = http.StatusForbidden
	}
	w.WriteHeader(httpStatus)
}

// serveWS upgrades a GET WSPath request and runs the connection until it
// closes.
func (e *Emulator) serveWS(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	e.mu.Lock()
	refuse := func(status, authCode int, msg string) {
		e.logWSLocked(WSFrame{Type: "refused", ConnID: r.URL.Query().Get("device_id"), Code: status, Note: msg})
		e.mu.Unlock()
		refuseHandshake(w, status, authCode, msg)
	}
	if e.closed {
		refuse(http.StatusServiceUnavailable, 0, "the emulator is closed")
		return
	}
	if rf := e.takeRefusalLocked(false); rf != nil {
		msg := rf.Msg
		if msg == "" {
			msg = "connection refused by the emulator"
		}
		refuse(rf.HandshakeStatus, rf.AuthErrCode, msg)
		return
	}
	tk, ok := e.ws.tickets[ticket]
	if !ok {
		// Retryable (514 without the connection-cap code): the SDK asks
		// the endpoint for a fresh URL.
		refuse(WSStatusAuthFailed, CodeWSInternalError, "unknown or used ticket")
		return
	}
	if len(e.ws.conns)+e.ws.reserved >= e.ws.maxConns {
		refuse(WSStatusAuthFailed, CodeWSTooManyConns, fmt.Sprintf("the app already has %d connections", e.ws.maxConns))
		return
	}
	delete(e.ws.tickets, ticket)
	e.ws.reserved++
	e.background.Add(1)
	e.mu.Unlock()
	defer e.background.Done()

	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, HandshakeTimeout: wsWriteTimeout}
	sock, err := up.Upgrade(w, r, nil)
	e.mu.Lock()
	e.ws.reserved--
	if err != nil {
		e.bumpLocked()
		e.mu.Unlock()
		return
	}
	c := &wsConn{id: tk.deviceID, remote: r.RemoteAddr, opened: e.now(), sock: sock, done: make(chan struct{})}
	if e.closed {
		// Close ran during the upgrade and did not see this connection.
		e.mu.Unlock()
		_ = sock.Close()
		return
	}
	e.ws.conns = append(e.ws.conns, c)
	e.logWSLocked(WSFrame{Type: "open", ConnID: c.id, Note: c.remote})
	e.mu.Unlock()

	e.readLoop(c)
}

// readLoop reads the client's frames until the connection fails: pings
// are answered with pongs, data frames are ACKs of deliveries.
func (e *Emulator) readLoop(c *wsConn) {
	reason := ""
	defer func() {
		_ = c.sock.Close()
		e.mu.Lock()
		for i, x := range e.ws.conns {
			if x == c {
				e.ws.conns = append(e.ws.conns[:i:i], e.ws.conns[i+1:]...)
				break
			}
		}
		e.logWSLocked(WSFrame{Type: "close", ConnID: c.id, Note: reason})
		e.mu.Unlock()
		close(c.done)
	}()
	for {
		e.mu.Lock()
		wait := e.ws.config.readWait()
		e.mu.Unlock()
		if err := c.sock.SetReadDeadline(time.Now().Add(wait)); err != nil {
			reason = err.Error()
			return
		}
		mt, data, err := c.sock.ReadMessage()
		if err != nil {
			reason = err.Error()
			return
		}
		if mt != websocket.BinaryMessage {
			e.logWS(WSFrame{Dir: "in", ConnID: c.id, Type: "unsupported", Size: len(data), Note: "not a binary message"})
			continue
		}
		var f larkws.Frame
		if err := f.Unmarshal(data); err != nil {
			e.logWS(WSFrame{Dir: "in", ConnID: c.id, Type: "garbage", Size: len(data), Note: err.Error()})
			continue
		}
		hs := larkws.Headers(f.Headers)
		typ := hs.GetString(larkws.HeaderType)
		switch {
		case f.Method == int32(larkws.FrameTypeControl) && typ == string(larkws.MessageTypePing):
			e.logWS(WSFrame{Dir: "in", ConnID: c.id, Type: "ping", Size: len(data)})
			e.pong(c, f)
		case f.Method == int32(larkws.FrameTypeData):
			e.takeAck(c, hs, f.Payload, len(data))
		default:
			e.logWS(WSFrame{Dir: "in", ConnID: c.id, Type: "unknown", Size: len(data), Note: "method " + itoa(int(f.Method)) + " type " + typ})
		}
	}
}

// pong answers a ping; the payload is the current ClientConfig, which the
// client applies at once.
func (e *Emulator) pong(c *wsConn, ping larkws.Frame) {
	e.mu.Lock()
	cfg := marshal(e.ws.config)
	e.mu.Unlock()
	hs := larkws.Headers{}
	hs.Add(larkws.HeaderType, string(larkws.MessageTypePong))
	f := larkws.Frame{SeqID: ping.SeqID, LogID: ping.LogID, Service: ping.Service, Method: int32(larkws.FrameTypeControl), Headers: hs, Payload: cfg}
	if n, err := e.writeFrame(c, &f, false); err == nil {
		e.logWS(WSFrame{Dir: "out", ConnID: c.id, Type: "pong", Size: n})
	}
}

// takeAck hands an ACK to the delivery waiting for it.
func (e *Emulator) takeAck(c *wsConn, hs larkws.Headers, payload []byte, size int) {
	msgID := hs.GetString(larkws.HeaderMessageID)
	var resp struct {
		Code *int   `json:"code"`
		Data []byte `json:"data"` // base64 in the JSON, as the SDK marshals []byte
	}
	entry := WSFrame{Dir: "in", ConnID: c.id, Type: "ack", MessageID: msgID, Size: size,
		Part: hs.GetInt(larkws.HeaderSeq), Parts: hs.GetInt(larkws.HeaderSum)}
	ack := wsAck{} // code 0: the delivery reports errWSBadAck
	if err := json.Unmarshal(payload, &resp); err != nil || resp.Code == nil {
		entry.Note = string(errWSBadAck)
	} else {
		ack.code, ack.data = *resp.Code, resp.Data
		entry.Code = *resp.Code
	}
	e.mu.Lock()
	ch, ok := e.ws.pending[msgID]
	delete(e.ws.pending, msgID)
	if !ok {
		entry.Note = "no delivery waits for this message (late or unknown)"
	}
	e.logWSLocked(entry)
	e.mu.Unlock()
	if ok {
		ch <- ack // buffered, and only one ACK is taken per message
	}
}

// writeFrame marshals and sends f, assigning the connection's next SeqID
// when assignSeq is set, and returns the size written. A failed write closes
// the connection so that its read loop ends and waiting deliveries fail.
func (e *Emulator) writeFrame(c *wsConn, f *larkws.Frame, assignSeq bool) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if assignSeq {
		c.seq++
		f.SeqID = c.seq
	}
	b, err := f.Marshal()
	if err != nil {
		return 0, err
	}
	if err := c.sock.SetWriteDeadline(time.Now().Add(wsWriteTimeout)); err == nil {
		err = c.sock.WriteMessage(websocket.BinaryMessage, b)
	}
	if err != nil {
		_ = c.sock.Close()
		return 0, err
	}
	return len(b), nil
}

// kill closes the connection abruptly: a linger of 0 makes the close a TCP
// reset, as when a gateway dies.
func (c *wsConn) kill() {
	if tc, ok := c.sock.UnderlyingConn().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.sock.Close()
}

// pickConnLocked chooses the connection for one message: Feishu sends each
// message to one of the app's connections; round robin spreads them
// predictably.
func (e *Emulator) pickConnLocked() *wsConn {
	if len(e.ws.conns) == 0 {
		return nil
	}
	c := e.ws.conns[e.ws.next%len(e.ws.conns)]
	e.ws.next++
	return c
}

// splitPayload cuts b into n parts of nearly equal size (fewer when b is
// shorter than n bytes; one empty part for an empty b).
func splitPayload(b []byte, n int) [][]byte {
	n = max(min(n, len(b)), 1)
	parts := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		parts = append(parts, b[len(b)*i/n:len(b)*(i+1)/n])
	}
	return parts
}

// pushWS sends one data message over c as split frames and waits for the
// ACK. It returns the ACK's code and decoded data, and the frames sent.
func (e *Emulator) pushWS(ctx context.Context, c *wsConn, plain []byte, timeout time.Duration) (int, []byte, int, error) {
	msgID, traceID := randHex(16), randHex(16)
	ch := make(chan wsAck, 1)
	e.mu.Lock()
	parts := splitPayload(plain, e.ws.split)
	e.ws.pending[msgID] = ch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.ws.pending, msgID)
		e.mu.Unlock()
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	sent := 0
	for i, p := range parts {
		if i > 0 {
			gap := time.NewTimer(wsPartGap)
			select {
			case <-gap.C:
			case <-c.done:
				gap.Stop()
				return 0, nil, sent, errWSClosed
			case <-timer.C:
				gap.Stop()
				return 0, nil, sent, errWSTimeout
			case <-ctx.Done():
				gap.Stop()
				return 0, nil, sent, ctx.Err()
			}
		}
		hs := larkws.Headers{}
		hs.Add(larkws.HeaderType, string(larkws.MessageTypeEvent))
		hs.Add(larkws.HeaderMessageID, msgID)
		hs.Add(larkws.HeaderSum, strconv.Itoa(len(parts)))
		hs.Add(larkws.HeaderSeq, strconv.Itoa(i))
		hs.Add(larkws.HeaderTraceID, traceID)
		hs.Add(larkws.HeaderTimestamp, msString(e.now()))
		f := larkws.Frame{LogID: randUint64() >> 1, Service: wsServiceID, Method: int32(larkws.FrameTypeData), Headers: hs, Payload: p}
		n, err := e.writeFrame(c, &f, true)
		if err != nil {
			return 0, nil, sent, fmt.Errorf("%w: %v", errWSClosed, err)
		}
		sent++
		e.logWS(WSFrame{Dir: "out", ConnID: c.id, Type: "event", MessageID: msgID, Part: i, Parts: len(parts), Size: n})
	}
	select {
	case a := <-ch:
		if a.code == 0 {
			return 0, nil, sent, errWSBadAck
		}
		return a.code, a.data, sent, nil
	case <-c.done:
		return 0, nil, sent, errWSClosed
	case <-timer.C:
		return 0, nil, sent, errWSTimeout
	case <-ctx.Done():
		return 0, nil, sent, ctx.Err()
	}
}

// ReplayToAll sends a stored event (message or card callback) once over
// every live connection at the same time, as replays after reconnects can
// make it reach several of an app's connections, and returns one Delivery
// per connection (a single failed one when there is none). A callback
// replayed this way is not applied to the card.
func (e *Emulator) ReplayToAll(ctx context.Context, eventID string) ([]Delivery, error) {
	e.mu.Lock()
	conns := append([]*wsConn(nil), e.ws.conns...)
	_, known := e.events[eventID]
	e.mu.Unlock()
	if !known {
		return nil, fmt.Errorf("feishuemu: unknown event %q", eventID)
	}
	if len(conns) == 0 {
		d, err := e.deliverVia(ctx, eventID, DeliveryWebSocket, nil)
		return []Delivery{d}, err
	}
	out := make([]Delivery, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = e.deliverVia(ctx, eventID, DeliveryWebSocket, c)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// randUint64 returns a random 64-bit number.
func randUint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("feishuemu: crypto/rand: " + err.Error())
	}
	return binary.BigEndian.Uint64(b[:])
}
