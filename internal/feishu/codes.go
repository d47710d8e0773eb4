package feishu

import (
	"net/http"

	"okrbot/internal/okr"
)

// Codes the client itself acts on.
const (
	CodeTokenInvalid    = 99991663 // tenant token invalid or expired
	CodeAppTokenInvalid = 99991664
	CodeTokenMalformed  = 99991671
	CodeRateLimited     = 99991400
	CodeUnknown         = 1009999
	CodeSystemException = 1009998
	CodeNotFound        = 1001004
	CodeConflict        = 1001008
	CodeMessageRecalled = 230011 // the card's message was withdrawn
	CodeEditWindow      = 230031 // the card is past Feishu's 14-day edit window
)

// Classify is the one table from a Feishu answer (HTTP status and code) to
// its class. Retries, the token refresh, the cards' advice and their Retry
// buttons all follow it, so they cannot disagree.
func Classify(httpStatus, code int) okr.Class {
	switch code {
	case CodeTokenInvalid, CodeAppTokenInvalid, CodeTokenMalformed:
		// The token was refused before the call ran: fetch a new token and
		// call once more (docs/contract.md §6).
		return okr.ClassTokenInvalid
	case CodeRateLimited:
		return okr.ClassRateLimited
	case CodeUnknown, CodeSystemException,
		230020: // chat rate limit: a few seconds later it passes
		return okr.ClassTransient
	case CodeNotFound:
		return okr.ClassNotFound
	case CodeConflict:
		return okr.ClassConflict
	case CodeMessageRecalled, CodeEditWindow:
		return okr.ClassFinal
	case 0:
		if httpStatus < 500 && httpStatus != http.StatusTooManyRequests {
			return okr.ClassPermanent // not reached for a success; a 4xx without a code
		}
	}
	switch {
	case httpStatus == http.StatusTooManyRequests:
		return okr.ClassRateLimited
	case httpStatus >= 500:
		return okr.ClassTransient
	}
	return okr.ClassPermanent
}

// credentialCodes are the token endpoint's answers to a wrong app id or
// secret: no retry helps until the configuration changes.
func isCredentialCode(code int) bool {
	switch code {
	case 10003, 10014, 10015, 20002, 99991662, 99991673:
		return true
	}
	return false
}
