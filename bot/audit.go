package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// AuditRecord is one attempt at a data-changing command, typed or clicked,
// refused and failed ones included. It never holds a secret or a token.
type AuditRecord struct {
	Time     time.Time `json:"time"`
	Operator string    `json:"operator_open_id"`
	ChatID   string    `json:"chat_id"`
	Command  string    `json:"command"`
	Args     []string  `json:"args"`
	Via      string    `json:"via"`     // "message" or "button"
	Outcome  string    `json:"outcome"` // "created", "refused", "failed", "rejected", …
	Code     int       `json:"code,omitempty"`
	PeriodID string    `json:"period_id,omitempty"`
	LogID    string    `json:"log_id,omitempty"`
	EventID  string    `json:"event_id,omitempty"`
}

// Auditor keeps audit records.
type Auditor interface {
	Audit(ctx context.Context, r AuditRecord) error
}

// AuditLog writes each record to the log and, when it has a file, appends
// it to the file as one JSON line, synced to disk before Audit returns.
type AuditLog struct {
	log *slog.Logger
	mu  sync.Mutex
	f   *os.File
}

// OpenAuditLog returns an AuditLog; path "" keeps records in the log only.
func OpenAuditLog(path string, log *slog.Logger) (*AuditLog, error) {
	a := &AuditLog{log: log}
	if path == "" {
		return a, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	a.f = f
	return a, nil
}

// Audit implements Auditor.
func (a *AuditLog) Audit(_ context.Context, r AuditRecord) error {
	a.log.Info("audit", "operator", r.Operator, "chat_id", r.ChatID, "command", r.Command, "args", r.Args,
		"via", r.Via, "outcome", r.Outcome, "code", r.Code, "period_id", r.PeriodID, "log_id", r.LogID, "event_id", r.EventID)
	if a.f == nil {
		return nil
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync: %w", err)
	}
	return nil
}

// Close closes the audit file.
func (a *AuditLog) Close() error {
	if a.f == nil {
		return nil
	}
	return a.f.Close()
}
