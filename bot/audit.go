package bot

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"okrbot/internal/okr"
)

// AuditRecord is one attempt at a data-changing command, typed or clicked,
// refused and failed ones included: one period per record. It never holds
// a secret or a token.
type AuditRecord struct {
	Time      time.Time `json:"time"`
	Operator  string    `json:"operator_open_id"`
	ChatID    string    `json:"chat_id"`
	Command   string    `json:"command"` // newperiod, closeperiod, hideperiod, restoreperiod
	Args      []string  `json:"args"`
	Via       string    `json:"via"`     // "message" or "button"
	Outcome   string    `json:"outcome"` // one of the Audit* outcomes
	Code      int       `json:"code,omitempty"`
	PeriodID  string    `json:"period_id,omitempty"`
	OldStatus string    `json:"old_status,omitempty"` // status changes
	NewStatus string    `json:"new_status,omitempty"` // status changes
	LogID     string    `json:"log_id,omitempty"`
	EventID   string    `json:"event_id,omitempty"`
}

// The outcomes an audit record may carry (README, "Audit").
const (
	AuditCreated   = "created"   // the period was created
	AuditExists    = "exists"    // the period was already there
	AuditChanged   = "changed"   // the status was changed
	AuditUnchanged = "unchanged" // the period already had that status
	AuditRefused   = "refused"   // not an operator
	AuditRejected  = "rejected"  // a forged, foreign or expired button
	AuditFailed    = "failed"    // Feishu answered an error or could not be reached
	AuditUnknown   = "unknown"   // cut short: it may or may not have happened
)

// Auditor keeps audit records.
type Auditor interface {
	Audit(ctx context.Context, r AuditRecord) error
}

// logAuditor keeps audit records in the log only: what an empty
// audit.path means.
type logAuditor struct{ log *slog.Logger }

func (a logAuditor) Audit(ctx context.Context, r AuditRecord) error {
	a.log.InfoContext(ctx, "audit", "operator", r.Operator, "chat_id", r.ChatID, "command", r.Command, "args", r.Args,
		"via", r.Via, "outcome", r.Outcome, "code", r.Code, "period_id", r.PeriodID, "log_id", r.LogID, "event_id", r.EventID)
	return nil
}

// statusWord names a status in audit records.
func statusWord(s okr.Status) string {
	switch s.Normalized() {
	case okr.StatusNormal:
		return "normal"
	case okr.StatusInvalid:
		return "invalid"
	case okr.StatusHidden:
		return "hidden"
	}
	return "unknown"
}

// auditOutcome is the outcome of a create or change that failed: unknown
// when it was cut short and may have run, failed otherwise.
func auditOutcome(err error) string {
	if errors.Is(err, context.Canceled) {
		return AuditUnknown
	}
	return AuditFailed
}

// write records r, stamping it and filling in the Feishu code and log id
// of err; a record that cannot be written is logged, never lost silently.
func (b *Bot) write(ctx context.Context, r AuditRecord, err error) {
	r.Time = b.now().UTC()
	var e *okr.Error
	if errors.As(err, &e) {
		r.Code = e.Code
		if e.LogID != "" {
			r.LogID = e.LogID
		}
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), abandonWait)
		defer cancel()
	}
	if aerr := b.audit.Audit(ctx, r); aerr != nil {
		b.log.Error("audit record not written", "err", aerr, "event_id", r.EventID, "outcome", r.Outcome)
	}
}

// auditRefused records a data-changing command typed by a non-operator.
func (b *Bot) auditRefused(ctx context.Context, req request) {
	b.write(ctx, AuditRecord{Operator: req.msg.SenderOpenID, ChatID: req.msg.ChatID, Command: string(req.cmd.Name),
		Args: commandArgs(req.text), Via: "message", Outcome: AuditRefused, EventID: req.msg.EventID}, nil)
}

// commandArgs is what follows the command name, as typed.
func commandArgs(text string) []string {
	fields := strings.Fields(text)
	if len(fields) <= 1 {
		return []string{}
	}
	return fields[1:]
}
