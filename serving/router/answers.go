// What the router reads from an upstream answer: the top-1 class and score of a handler answer, and the reason in an
// error body, which it puts in the one error form clients see (docs/contracts.md; the Python router's answers.py,
// same text byte for byte).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// TopOne is the best class of a handler answer and its score.
type TopOne struct {
	Label string
	Score float64
}

// ParseTopOne reads `{"top_k": [{"label": ..., "score": ...}, ...]}` as the Python router does: the label is Python's
// str of whatever it is (3 -> "3", 3.0 -> "3.0"), the score Python's float of it (a number, a bool, a numeric
// string); false when the body is not such an answer (an error body, a foreign format).
func ParseTopOne(body []byte) (TopOne, bool) {
	// The handler's own answers (a string label, a numeric score) first: the general decoder below, which keeps
	// Python's rules for anything else, cost a tenth of the router's CPU per request, and so did encoding/json's
	// reflection over the whole top_k.
	if top, ok := handlerTopOne(body); ok {
		return top, true
	}
	document, err := decodeJSON(body)
	if err != nil {
		return TopOne{}, false
	}
	answer, ok := document.(*jsonObject)
	if !ok {
		return TopOne{}, false
	}
	topK, _ := answer.values["top_k"].([]any)
	if len(topK) == 0 {
		return TopOne{}, false
	}
	best, ok := topK[0].(*jsonObject)
	if !ok {
		return TopOne{}, false
	}
	label, hasLabel := best.get("label")
	score, hasScore := best.get("score")
	if !hasLabel || !hasScore {
		return TopOne{}, false
	}
	f, ok := pyFloat(score)
	if !ok {
		return TopOne{}, false
	}
	return TopOne{pyStr(label), f}, true
}

var answerParsers fastjson.ParserPool

// handlerTopOne is ParseTopOne for the bodies where strict JSON means what Python's json.loads makes of them: valid
// UTF-8 that fastjson validates (no NaN, no BOM, no control characters in strings), without escapes (so keys and
// labels are their bytes), a single "top_k" key whose first entry has a single string "label" and a single number
// "score" (Python keeps the last of duplicate keys), the score read by strconv as Python's float reads it. False for
// anything else, which the general decoder then reads.
func handlerTopOne(body []byte) (TopOne, bool) {
	if bytes.IndexByte(body, '\\') >= 0 || !utf8.Valid(body) || fastjson.ValidateBytes(body) != nil {
		return TopOne{}, false
	}
	parser := answerParsers.Get()
	defer answerParsers.Put(parser)
	document, err := parser.ParseBytes(body)
	if err != nil {
		return TopOne{}, false
	}
	answer, err := document.Object()
	if err != nil || !single(answer, "top_k") {
		return TopOne{}, false
	}
	topK, err := answer.Get("top_k").Array()
	if err != nil || len(topK) == 0 {
		return TopOne{}, false
	}
	best, err := topK[0].Object()
	if err != nil || !single(best, "label") || !single(best, "score") {
		return TopOne{}, false
	}
	label, err := best.Get("label").StringBytes()
	if err != nil {
		return TopOne{}, false
	}
	score := best.Get("score")
	if score.Type() != fastjson.TypeNumber {
		return TopOne{}, false
	}
	number := score.MarshalTo(nil)
	f, err := strconv.ParseFloat(string(number), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return TopOne{}, false
	}
	if f == 0 && !bytes.ContainsAny(number, ".eE") {
		f = 0 // Python's float of the int -0 is 0.0
	}
	return TopOne{string(label), f}, true
}

// single: the object has the key exactly once.
func single(o *fastjson.Object, key string) bool {
	n := 0
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if string(k) == key {
			n++
		}
	})
	return n == 1
}

// ErrorBody is the error form `{"error": ..., "code": ...}` for an upstream's non-2xx answer that is not in it
// already (TorchServe's own errors: `{"code", "type", "message"}`, or any other body); false when it is. The reason
// is the answer's message (or type), else the start of the body.
func ErrorBody(status int, body []byte, variant string) ([]byte, bool) {
	document, _ := decodeJSON(body)
	answer, isObject := document.(*jsonObject)
	var reason string
	if isObject {
		if _, ok := answer.values["error"].(string); ok {
			return nil, false
		}
		for _, key := range []string{"message", "type"} {
			if value := answer.values[key]; pyTruthy(value) {
				reason = pyStr(value)
				break
			}
		}
	}
	if reason == "" {
		reason = pyStrip(decodeReplacing(body[:min(len(body), 200)]))
	}
	if reason == "" {
		reason = "no body"
	}
	text := "upstream " + variant + " answered " + strconv.Itoa(status) + ": " + reason
	return []byte(`{"error": ` + pyJSONString(text) + `, "code": ` + strconv.Itoa(status) + `}`), true
}

// pyStr is Python's str of a decoded JSON value.
func pyStr(value any) string {
	if s, ok := value.(string); ok {
		return s
	}
	return pyJSONRepr(value)
}

// pyTruthy is Python's truth of a decoded JSON value.
func pyTruthy(value any) bool {
	switch v := value.(type) {
	case nil:
		return false
	case bool:
		return v
	case json.Number:
		f, _ := jsonFloat(v)
		return f != 0
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case *jsonObject:
		return len(v.keys) > 0
	}
	return true
}

// pyFloatText is what Python's float() reads from a string, once trimmed: decimal digits (an underscore may join two),
// an optional point and exponent, or inf, infinity, nan; a sign before any of them.
var pyFloatText = regexp.MustCompile(`^[+-]?(?:(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?|(?i:inf|infinity|nan))$`)

// pyFloat is Python's float() of a decoded JSON value; false where Python raises. A string is trimmed of ASCII
// whitespace and of non-ASCII Unicode spaces (Python reads non-ASCII decimal digits too; this does not).
func pyFloat(value any) (float64, bool) {
	switch v := value.(type) {
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case json.Number:
		return jsonFloat(v)
	case string:
		text := strings.TrimFunc(v, func(r rune) bool {
			return strings.ContainsRune(" \t\n\v\f\r", r) || r > unicode.MaxASCII && unicode.IsSpace(r)
		})
		if !pyFloatText.MatchString(text) {
			return 0, false
		}
		if strings.EqualFold(strings.TrimLeft(text, "+-"), "nan") {
			return math.NaN(), true
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64)
		return f, err == nil || math.IsInf(f, 0) // beyond float64: ±inf, as Python makes it
	}
	return 0, false
}

// decodeReplacing is Python's bytes.decode("utf-8", "replace"): each maximal ill-formed subsequence becomes one
// U+FFFD (a truncated sequence is one; a byte that cannot start or continue one is one).
func decodeReplacing(data []byte) string {
	var b strings.Builder
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size == 1 {
			size = illFormedLength(data)
		}
		b.WriteRune(r)
		data = data[size:]
	}
	return b.String()
}

// illFormedLength is the length of the maximal ill-formed subsequence at the start of data (which does not start
// with a valid UTF-8 sequence): the lead byte and the continuation bytes that could still follow it.
func illFormedLength(data []byte) int {
	lo, hi, size := byte(0x80), byte(0xbf), 0
	switch c := data[0]; {
	case 0xc2 <= c && c <= 0xdf:
		size = 2
	case c == 0xe0:
		lo, size = 0xa0, 3
	case c == 0xed:
		hi, size = 0x9f, 3
	case 0xe1 <= c && c <= 0xef:
		size = 3
	case c == 0xf0:
		lo, size = 0x90, 4
	case 0xf1 <= c && c <= 0xf3:
		size = 4
	case c == 0xf4:
		hi, size = 0x8f, 4
	default:
		return 1
	}
	n := 1
	for n < size && n < len(data) && lo <= data[n] && data[n] <= hi {
		n++
		lo, hi = 0x80, 0xbf
	}
	return n
}

// pyJSONString is a str as Python's json.dumps writes it (ensure_ascii): quoted, with \" \\ \n \r \t \b \f, and
// \uXXXX for every other character outside ' '-'~' (a surrogate pair beyond U+FFFF).
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case ' ' <= r && r <= '~':
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+r>>10, 0xdc00+r&0x3ff)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
