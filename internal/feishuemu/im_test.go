package feishuemu

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"
)

// userMessage posts a user message with no bot endpoint set (so it is only
// recorded) and returns its id.
func userMessage(t *testing.T, emu *Emulator, um UserMessage) string {
	t.Helper()
	d, err := emu.PostMessage(context.Background(), um)
	if !errors.Is(err, ErrNoEndpoint) || d.Skipped == "" {
		t.Fatalf("PostMessage without endpoint: %+v %v", d, err)
	}
	return d.MessageID
}

func replyReq(parent, msgType, content, uuid string) *larkim.ReplyMessageReq {
	return larkim.NewReplyMessageReqBuilder().MessageId(parent).
		Body(larkim.NewReplyMessageReqBodyBuilder().MsgType(msgType).Content(content).Uuid(uuid).Build()).Build()
}

func TestReplyAndUUIDDedup(t *testing.T) {
	clk := newClock()
	f := newFixture(t, Options{Now: clk.Now})
	parent := userMessage(t, f.emu, UserMessage{ChatType: "group", Text: "/periods", MentionBot: true})
	ctx := context.Background()
	card := jsonString(testCard(markdown("hello")))

	resp, err := f.client.Im.V1.Message.Reply(ctx, replyReq(parent, "interactive", card, "u-1"), f.tok())
	if err != nil || !resp.Success() {
		t.Fatalf("%v %+v", err, resp)
	}
	d := resp.Data
	if !strings.HasPrefix(*d.MessageId, "om_") || len(*d.MessageId) != 35 || *d.ParentId != parent || *d.RootId != parent ||
		*d.ChatId != DefaultGroupChatID || *d.MsgType != "interactive" || *d.Sender.SenderType != "app" || *d.Body.Content != card {
		t.Fatalf("reply data %s", resp.RawBody)
	}
	first := *d.MessageId

	// Same uuid within the hour: code 0 with the original message, nothing new.
	clk.Advance(59 * 60e9)
	resp, err = f.client.Im.V1.Message.Reply(ctx, replyReq(parent, "interactive", card, "u-1"), f.tok())
	if err != nil || !resp.Success() || *resp.Data.MessageId != first {
		t.Fatalf("duplicate uuid: %v %s", err, resp.RawBody)
	}
	if n := len(f.emu.Replies()); n != 1 {
		t.Fatalf("%d replies after a duplicate uuid", n)
	}
	// After the hour the uuid no longer dedupes.
	clk.Advance(2 * 60e9)
	resp, _ = f.client.Im.V1.Message.Reply(ctx, replyReq(parent, "interactive", card, "u-1"), f.tok())
	if !resp.Success() || *resp.Data.MessageId == first {
		t.Fatalf("uuid after 1h: %s", resp.RawBody)
	}
	// A text reply, and a reply to a reply keeps the root.
	resp, _ = f.client.Im.V1.Message.Reply(ctx, replyReq(first, "text", `{"text":"hi <b>"}`, ""), f.tok())
	if !resp.Success() || *resp.Data.RootId != parent || *resp.Data.ParentId != first {
		t.Fatalf("reply to reply: %s", resp.RawBody)
	}
	replies := f.emu.Replies()
	if len(replies) != 3 || replies[2].Text != "hi <b>" || replies[0].Card == nil || !replies[0].FromBot {
		t.Fatalf("replies %+v", replies)
	}
	if msgs := f.emu.Messages(DefaultGroupChatID); len(msgs) != 4 || msgs[0].ID != parent {
		t.Fatalf("chat messages %+v", msgs)
	}

	tests := []struct {
		name, parent, msgType, content, uuid string
		want                                 int
	}{
		{"unknown parent", "om_00000000000000000000000000000000", "text", `{"text":"x"}`, "", CodeIMRecalled},
		{"malformed parent", "nope", "text", `{"text":"x"}`, "", CodeIMInvalidParam},
		{"uuid too long", parent, "text", `{"text":"x"}`, strings.Repeat("u", 51), CodeIMInvalidParam},
		{"text not json", parent, "text", `hi`, "", CodeIMInvalidParam},
		{"unsupported type", parent, "image", `{"image_key":"x"}`, "", CodeIMInvalidParam},
		{"text too long", parent, "text", jsonString(map[string]string{"text": strings.Repeat("x", MaxTextBytes)}), "", CodeIMTooLong},
	}
	for _, tt := range tests {
		resp, err := f.client.Im.V1.Message.Reply(ctx, replyReq(tt.parent, tt.msgType, tt.content, tt.uuid), f.tok())
		if err != nil || resp.Code != tt.want || resp.StatusCode != 400 {
			t.Errorf("%s: %v %d %s", tt.name, err, resp.StatusCode, resp.RawBody)
		}
	}
	if _, err := f.client.Im.V1.Message.Reply(ctx, replyReq(parent, "text", `{"text":"x"}`, strings.Repeat("u", 50)), f.tok()); err != nil {
		t.Fatal(err)
	}
	if f.emu.RecallMessage(parent); true {
		resp, _ := f.client.Im.V1.Message.Reply(ctx, replyReq(parent, "text", `{"text":"x"}`, ""), f.tok())
		if resp.Code != CodeIMRecalled {
			t.Fatalf("reply to recalled: %s", resp.RawBody)
		}
	}
}

func TestSend(t *testing.T) {
	f := newFixture(t, Options{})
	body := map[string]any{"receive_id": DefaultP2PChatID, "msg_type": "interactive", "content": jsonString(testCard(markdown("x"))), "uuid": "s-1"}
	status, m := f.api(t, http.MethodPost, "/open-apis/im/v1/messages?receive_id_type=chat_id", body)
	if status != 200 || code(m) != 0 || data(m)["chat_id"] != DefaultP2PChatID || data(m)["parent_id"] != nil {
		t.Fatalf("send: %d %v", status, m)
	}
	if r := f.emu.Replies(); len(r) != 1 || r[0].ChatType != "p2p" || r[0].ParentID != "" {
		t.Fatalf("replies %+v", r)
	}
	status, m = f.api(t, http.MethodPost, "/open-apis/im/v1/messages?receive_id_type=open_id", body)
	if status != 400 || code(m) != CodeIMInvalidParam {
		t.Fatalf("open_id receiver: %d %v", status, m)
	}
}

func TestCardValidation(t *testing.T) {
	f := newFixture(t, Options{})
	parent := userMessage(t, f.emu, UserMessage{Text: "/help"})
	big := testCard(markdown(strings.Repeat("x", MaxCardBytes)))
	note := testCard(markdown("a"), map[string]any{"tag": "column_set", "columns": []any{
		map[string]any{"tag": "column", "elements": []any{markdown("b")}},
		map[string]any{"tag": "column", "elements": []any{map[string]any{"tag": "note", "elements": []any{}}}},
	}})
	action := testCard(map[string]any{"tag": "action", "actions": []any{button("x", map[string]any{"k": "v"})}})
	topElements := testCard(markdown("a"))
	topElements["elements"] = []any{}
	schema1 := testCard(markdown("a"))
	schema1["schema"] = "1.0"
	noSchema := testCard(markdown("a"))
	delete(noSchema, "schema")
	noElements := testCard()
	delete(noElements["body"].(map[string]any), "elements")
	strValue := testCard(map[string]any{"tag": "button", "text": map[string]any{"tag": "plain_text", "content": "x"},
		"behaviors": []any{map[string]any{"type": "callback", "value": "go"}}})
	i18nElements := testCard(markdown("a"))
	i18nElements["i18n_elements"] = map[string]any{}

	tests := []struct {
		name     string
		content  string
		wantCode int
		wantMsg  []string
	}{
		{"valid", jsonString(testCard(markdown("a"), button("b", map[string]any{"k": "v"}))), 0, nil},
		{"over 30 KB", jsonString(big), CodeIMTooLong, nil},
		{"note in a column", jsonString(note), CodeIMCardInvalid, []string{"ErrCode: 200861", "ROOT -> body -> elements -> [1](tag: column_set) -> columns -> [1](tag: column) -> elements -> [0](tag: note)", "unsupported tag note"}},
		{"action", jsonString(action), CodeIMCardInvalid, []string{"ErrCode: 200861", "unsupported tag action"}},
		{"top-level elements", jsonString(topElements), CodeIMCardInvalid, []string{"ErrCode: 200621", "unknown property, property: elements"}},
		{"i18n_elements", jsonString(i18nElements), CodeIMCardInvalid, []string{"ErrCode: 200621", "property: i18n_elements"}},
		{"schema 1.0", jsonString(schema1), CodeIMCardInvalid, []string{"ErrCode: 200621"}},
		{"no schema", jsonString(noSchema), CodeIMCardInvalid, []string{"ErrCode: 200621"}},
		{"no body.elements", jsonString(noElements), CodeIMCardInvalid, []string{"ErrCode: 200621", "body.elements"}},
		{"string button value", jsonString(strValue), CodeIMCardInvalid, []string{"ErrCode: 200621", "behaviors -> [0] -> value"}},
		{"not json", `{"schema":"2.0",`, CodeIMCardInvalid, []string{"ErrCode: 200621"}},
		{"json array", `[1]`, CodeIMCardInvalid, []string{"ErrCode: 200621"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.client.Im.V1.Message.Reply(context.Background(), replyReq(parent, "interactive", tt.content, ""), f.tok())
			if err != nil {
				t.Fatal(err)
			}
			if resp.Code != tt.wantCode {
				t.Fatalf("code %d %s, want %d", resp.Code, resp.RawBody, tt.wantCode)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(resp.Msg, s) {
					t.Fatalf("msg %q lacks %q", resp.Msg, s)
				}
			}
		})
	}
	if n := len(f.emu.Replies()); n != 1 {
		t.Fatalf("%d replies stored; only the valid card should be", n)
	}
}

func TestPatchMessage(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	parent := userMessage(t, f.emu, UserMessage{Text: "/help"})
	resp, _ := f.client.Im.V1.Message.Reply(ctx, replyReq(parent, "interactive", jsonString(testCard(markdown("v1"))), ""), f.tok())
	cardID := *resp.Data.MessageId
	resp, _ = f.client.Im.V1.Message.Reply(ctx, replyReq(parent, "text", `{"text":"t"}`, ""), f.tok())
	textID := *resp.Data.MessageId

	patch := func(id, content string) (int, string) {
		r, err := f.client.Im.V1.Message.Patch(ctx, larkim.NewPatchMessageReqBuilder().MessageId(id).
			Body(larkim.NewPatchMessageReqBodyBuilder().Content(content).Build()).Build(), f.tok())
		if err != nil {
			t.Fatal(err)
		}
		return r.Code, string(r.RawBody)
	}
	v2 := jsonString(testCard(markdown("v2")))
	if c, raw := patch(cardID, v2); c != 0 || !strings.Contains(raw, `"data":{}`) {
		t.Fatalf("patch: %s", raw)
	}
	m, _ := f.emu.Message(cardID)
	if m.Updates != 1 || !slices.Contains(CardTexts(m.Card), "v2") || m.Content != v2 {
		t.Fatalf("patched message %+v %v", m, CardTexts(m.Card))
	}
	tests := []struct {
		name, id, content string
		want              int
	}{
		{"user message", parent, v2, CodeIMNoPermission},
		{"text message", textID, v2, CodeIMInvalidParam},
		{"invalid card", cardID, jsonString(testCard(map[string]any{"tag": "note"})), CodeIMCardInvalid},
		{"unknown", "om_00000000000000000000000000000000", v2, CodeIMRecalled},
	}
	for _, tt := range tests {
		if c, raw := patch(tt.id, tt.content); c != tt.want {
			t.Errorf("%s: %s", tt.name, raw)
		}
	}
	if m, _ := f.emu.Message(cardID); m.Updates != 1 {
		t.Fatalf("a refused patch changed the card: %+v", m)
	}
	// Cards returned are copies: mutating one does not change the emulator.
	m.Card["schema"] = "mutated"
	if again, _ := f.emu.Message(cardID); again.Card["schema"] != "2.0" {
		t.Fatal("Message returned the emulator's own map")
	}
}
