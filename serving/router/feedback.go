// Ground truth that arrives later: request ids, the answers remembered for them, and `POST /feedback` bodies (the
// Python router's feedback.py: same rules, same messages).
//
// The router gives every prediction a request id (the client's X-Request-Id when it is valid, else a random one) and
// remembers, for ttl, which variant answered it with which top-1 class. A label sent later for that id counts once,
// as correct or wrong, for the variant that answered. The memory is bounded three ways: entries older than ttl, at
// most maxEntries, and at most maxBytes by an estimate that covers each entry's real cost in Go (feedback_test.go
// measures it); the oldest entries go first.
//
// Pure apart from the clock, which is a parameter, and the random ids.
package main

import (
	"container/list"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unique"
)

// The request id goes both ways in RequestIDHeader; a feedback body is at most MaxFeedbackBytes, its label at most
// MaxLabelChars characters.
const (
	RequestIDHeader  = "X-Request-Id"
	MaxFeedbackBytes = 4096
	MaxLabelChars    = 128
	// EntryOverheadBytes: per answer remembered, on top of its id's and class's bytes: the list element, the entry
	// (id, expiry, variant, interned class), the map's slot and the id's allocation rounding. Measured at 146-192
	// bytes (Go 1.26, amd64, a pointer-sized variant such as the router's *Series; the most after millions of answers
	// through a full log; feedback_test.go); rounded up, which covers a string variant too (16 bytes more).
	EntryOverheadBytes = 256
)

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// RequestID is the client's id when it is 1-128 characters of [A-Za-z0-9._:-] starting with a letter or digit, else
// a fresh random one (128 bits, 32 hex digits, so ids cannot be guessed to label others' requests).
func RequestID(sent string) string {
	if validID.MatchString(sent) {
		return sent
	}
	random := make([]byte, 16)
	rand.Read(random) // never fails (crypto/rand)
	return hex.EncodeToString(random)
}

// AnswerLog: request id -> the answer given (which variant, which top-1 class), oldest first. Not safe for
// concurrent use: the caller holds a lock around every call.
type AnswerLog[T any] struct {
	ttl        time.Duration
	maxEntries int
	maxBytes   int
	clock      func() time.Time
	order      *list.List // of *remembered[T], oldest first
	byID       map[string]*list.Element
	bytes      int
}

// remembered is one answer of the log; classes repeat, so the class is interned (one string per class, released
// with the last answer that holds it).
type remembered[T any] struct {
	id        string
	expires   time.Time
	variant   T
	predicted unique.Handle[string]
	labelled  bool
}

// NewAnswerLog is an empty log; clock is time.Now but in tests.
func NewAnswerLog[T any](ttl time.Duration, maxEntries, maxBytes int, clock func() time.Time) (*AnswerLog[T], error) {
	if ttl <= 0 || maxEntries < 1 || maxBytes < EntryOverheadBytes {
		return nil, fmt.Errorf("answer log needs ttl > 0, max entries >= 1, max bytes >= %d; got %v, %d, %d",
			EntryOverheadBytes, ttl, maxEntries, maxBytes)
	}
	return &AnswerLog[T]{ttl: ttl, maxEntries: maxEntries, maxBytes: maxBytes, clock: clock, order: list.New(),
		byID: map[string]*list.Element{}}, nil
}

// Len is the number of answers remembered; Bytes, the estimate of their memory.
func (l *AnswerLog[T]) Len() int           { return l.order.Len() }
func (l *AnswerLog[T]) Bytes() int         { return l.bytes }
func (l *AnswerLog[T]) TTL() time.Duration { return l.ttl }
func (l *AnswerLog[T]) MaxEntries() int    { return l.maxEntries }

// answerCost is the byte estimate of one answer.
func answerCost(id, predicted string) int { return EntryOverheadBytes + len(id) + len(predicted) }

// Remember: a client that reuses an id replaces the earlier answer (the latest answer is the one labelled, and it is
// the newest); then the oldest answers go while there are too many, they take too many bytes, or the oldest expired.
func (l *AnswerLog[T]) Remember(id string, variant T, predicted string) {
	now := l.clock()
	if element, ok := l.byID[id]; ok {
		l.forget(element)
	}
	l.byID[id] = l.order.PushBack(&remembered[T]{id, now.Add(l.ttl), variant, unique.Make(predicted), false})
	l.bytes += answerCost(id, predicted)
	for l.order.Len() > 0 {
		oldest := l.order.Front()
		expired := !now.Before(oldest.Value.(*remembered[T]).expires)
		if l.order.Len() <= l.maxEntries && l.bytes <= l.maxBytes && !expired {
			break
		}
		l.forget(oldest)
	}
}

func (l *AnswerLog[T]) forget(element *list.Element) {
	answer := l.order.Remove(element).(*remembered[T])
	delete(l.byID, answer.id)
	l.bytes -= answerCost(answer.id, answer.predicted.Value())
}

// Label is the answer to count a label against (found false when the id is unknown or expired), and marks it
// labelled: a second label for it finds alreadyLabelled true. The answer keeps its place in the order.
func (l *AnswerLog[T]) Label(id string) (variant T, predicted string, alreadyLabelled bool, found bool) {
	element, ok := l.byID[id]
	if !ok {
		return variant, "", false, false
	}
	answer := element.Value.(*remembered[T])
	if !l.clock().Before(answer.expires) {
		return variant, "", false, false
	}
	alreadyLabelled, answer.labelled = answer.labelled, true
	return answer.variant, answer.predicted.Value(), alreadyLabelled, true
}

// FeedbackError: a feedback body the router cannot count; the message says why.
type FeedbackError struct{ msg string }

func (e *FeedbackError) Error() string { return e.msg }

func feedbackError(format string, args ...any) *FeedbackError {
	return &FeedbackError{fmt.Sprintf(format, args...)}
}

// Feedback: the true class of the request answered with RequestID.
type Feedback struct {
	RequestID string
	Label     string
}

// ParseFeedback reads `{"requestId": "<id from X-Request-Id>", "label": "<true class>"}`; the label may be an
// integer (its decimal string), and is trimmed.
func ParseFeedback(body []byte) (Feedback, error) {
	if len(body) > MaxFeedbackBytes {
		return Feedback{}, feedbackError("feedback body of %d bytes exceeds %d bytes", len(body), MaxFeedbackBytes)
	}
	document, err := decodeJSON(body)
	if err != nil {
		return Feedback{}, feedbackError("feedback is not valid JSON: %v", err)
	}
	object, ok := document.(*jsonObject)
	if !ok {
		return Feedback{}, feedbackError(`feedback must be a JSON object {"requestId": ..., "label": ...}`)
	}
	var unknown []string
	for _, key := range object.keys {
		if key != "requestId" && key != "label" {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Feedback{}, feedbackError("feedback has unknown field(s) %s; expected requestId and label",
			pyStrings(unknown))
	}
	rid, ok := object.values["requestId"].(string)
	if !ok || !validID.MatchString(rid) {
		return Feedback{}, feedbackError("requestId: must be the %s the router answered with "+
			"(1-128 characters of [A-Za-z0-9._:-]), got %s", RequestIDHeader, pyJSONRepr(object.values["requestId"]))
	}
	label := object.values["label"]
	if number, ok := label.(json.Number); ok && isInteger(number) {
		label = pyInt(number)
	}
	text, ok := label.(string)
	if !ok || pyStrip(text) == "" || utf8.RuneCountInString(text) > MaxLabelChars || !isPrintable(text) {
		return Feedback{}, feedbackError("label: must be the true class, a non-empty printable string of at most %d "+
			"characters or an integer, got %s", MaxLabelChars, pyJSONRepr(label))
	}
	return Feedback{rid, pyStrip(text)}, nil
}

// isPrintable is Python's str.isprintable(): letters, marks, numbers, punctuation, symbols and the ASCII space.
func isPrintable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}
