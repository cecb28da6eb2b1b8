package main

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testClock is a clock the test moves.
type testClock struct{ now time.Time }

func (c *testClock) time() time.Time { return c.now }

func newTestLog[T any](t *testing.T, ttl time.Duration, maxEntries, maxBytes int) (*AnswerLog[T], *testClock) {
	t.Helper()
	clock := &testClock{time.Unix(1000, 0)}
	log, err := NewAnswerLog[T](ttl, maxEntries, maxBytes, clock.time)
	if err != nil {
		t.Fatal(err)
	}
	return log, clock
}

type labelResult struct {
	variant, predicted     string
	alreadyLabelled, found bool
}

func labelIn(log *AnswerLog[string], id string) labelResult {
	variant, predicted, alreadyLabelled, found := log.Label(id)
	return labelResult{variant, predicted, alreadyLabelled, found}
}

func TestAValidClientIDIsHonouredAndAnythingElseReplacedByARandomOne(t *testing.T) {
	for _, sent := range []string{"order-42.a:b_c", "A", strings.Repeat("x", 128), "0:_.-"} {
		if got := RequestID(sent); got != sent {
			t.Errorf("%q replaced by %q", sent, got)
		}
	}
	fresh := map[string]bool{}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, sent := range []string{"", "-leading-dash", "has space", strings.Repeat("x", 129), "é", "abc\n", "_a"} {
		got := RequestID(sent)
		if !hex32.MatchString(got) {
			t.Errorf("%q: %q is not 32 hex digits", sent, got)
		}
		fresh[got] = true
	}
	if len(fresh) != 7 {
		t.Errorf("random ids repeat: %v", fresh)
	}
}

func TestAnAnswerIsLabelledOnceAndForgottenAfterItsTTL(t *testing.T) {
	log, clock := newTestLog[string](t, time.Minute, 10, 10_000)
	log.Remember("a", Stable, "7")
	log.Remember("b", Candidate, "1")
	if got, want := labelIn(log, "a"), (labelResult{Stable, "7", false, true}); got != want {
		t.Errorf("first label: %+v", got)
	}
	if got, want := labelIn(log, "a"), (labelResult{Stable, "7", true, true}); got != want { // the caller refuses it
		t.Errorf("second label: %+v", got)
	}
	if got := labelIn(log, "nobody"); got != (labelResult{}) {
		t.Errorf("unknown id: %+v", got)
	}
	clock.now = clock.now.Add(time.Minute)
	if got := labelIn(log, "b"); got != (labelResult{}) {
		t.Errorf("expired, even before anything evicts it: %+v", got)
	}
	if log.Len() != 2 {
		t.Errorf("%d answers before the next one", log.Len())
	}
	log.Remember("c", Stable, "3") // the next answer evicts the expired ones
	if log.Len() != 1 || log.Bytes() != EntryOverheadBytes+2 {
		t.Errorf("%d answers, %d bytes", log.Len(), log.Bytes())
	}
	if log.TTL() != time.Minute || log.MaxEntries() != 10 {
		t.Errorf("TTL %v, MaxEntries %d", log.TTL(), log.MaxEntries())
	}
}

func TestAReusedIDKeepsTheLatestAnswerAsTheNewest(t *testing.T) {
	log, _ := newTestLog[string](t, time.Minute, 2, 10_000)
	log.Remember("a", Stable, "7")
	log.Remember("b", Stable, "7")
	log.Remember("a", Candidate, "10")
	if got, want := labelIn(log, "a"), (labelResult{Candidate, "10", false, true}); got != want || log.Len() != 2 {
		t.Errorf("%+v, %d answers", got, log.Len())
	}
	if want := 2*EntryOverheadBytes + len("a10") + len("b7"); log.Bytes() != want {
		t.Errorf("%d bytes, want %d", log.Bytes(), want)
	}
	log.Remember("c", Stable, "7") // "b" is the oldest now
	if labelIn(log, "b").found || !labelIn(log, "a").found || !labelIn(log, "c").found {
		t.Error("the reused id did not become the newest")
	}
}

func TestEntriesAndBytesAreBoundedOldestFirst(t *testing.T) {
	log, _ := newTestLog[string](t, time.Hour, 3, 100_000)
	for i := range 5 {
		log.Remember("id-"+strconv.Itoa(i), Stable, "7")
	}
	if log.Len() != 3 || labelIn(log, "id-1").found || !labelIn(log, "id-2").found {
		t.Errorf("%d answers", log.Len())
	}
	small, _ := newTestLog[string](t, time.Hour, 1000, 3*(EntryOverheadBytes+10))
	for i := range 10 {
		small.Remember(fmt.Sprintf("id-%05d", i), Stable, "7") // 8 + 1 bytes: three fit
	}
	if small.Len() != 3 || small.Bytes() != 3*(EntryOverheadBytes+9) || !labelIn(small, "id-00009").found ||
		!labelIn(small, "id-00007").found || labelIn(small, "id-00006").found {
		t.Errorf("%d answers, %d bytes", small.Len(), small.Bytes())
	}
	tiny, _ := newTestLog[string](t, time.Hour, 10, EntryOverheadBytes)
	tiny.Remember("a", Stable, "7") // more than the whole budget: not kept
	if tiny.Len() != 0 || tiny.Bytes() != 0 {
		t.Errorf("%d answers, %d bytes", tiny.Len(), tiny.Bytes())
	}
}

func TestImpossibleBoundsAreRefused(t *testing.T) {
	for _, bounds := range []struct {
		ttl                  time.Duration
		maxEntries, maxBytes int
	}{{0, 1, 1000}, {time.Second, 0, 1000}, {time.Second, 1, EntryOverheadBytes - 1}} {
		_, err := NewAnswerLog[string](bounds.ttl, bounds.maxEntries, bounds.maxBytes, time.Now)
		want := "answer log needs ttl > 0, max entries >= 1, max bytes >= 256; got "
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%+v: %v", bounds, err)
		}
	}
}

// heldBy is how much more heap is live after remember than before it (both after a collection).
func heldBy(remember func()) int {
	var stats runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&stats)
	before := stats.HeapAlloc
	remember()
	runtime.GC()
	runtime.ReadMemStats(&stats)
	return int(stats.HeapAlloc) - int(before)
}

type testSeries struct{ labels []string } // what the router stores: a pointer to its series

// With random 32-character ids (what the router makes) and 10 classes, what the log really holds stays within its
// byte estimate: EntryOverheadBytes covers an entry's real cost.
func TestTheByteEstimateCoversRealMemory(t *testing.T) {
	classes := make([]string, 10)
	for i := range classes {
		classes[i] = strconv.Itoa(i)
	}
	series := &testSeries{}
	const answers = 100_000
	var log *AnswerLog[*testSeries]
	held := heldBy(func() {
		log, _ = NewAnswerLog[*testSeries](time.Hour, answers, 1<<40, time.Now)
		for i := range answers {
			log.Remember(RequestID(""), series, classes[i%10]) // the id lives only in the log, as in the router
		}
	})
	if log.Len() != answers || held > log.Bytes() {
		t.Errorf("%d answers hold %d bytes (%d each, on top of id and class), estimated %d", log.Len(), held,
			held/answers-33, log.Bytes())
	}
	t.Logf("%d bytes per answer on top of its id and class, estimated %d", held/answers-33, EntryOverheadBytes)

	// The bound bites: answers go through a full log, whose map keeps its slots.
	const budget = 2_000_000
	held = heldBy(func() {
		log, _ = NewAnswerLog[*testSeries](time.Hour, 1_000_000_000, budget, time.Now)
		for i := range 3 * answers {
			log.Remember(RequestID(""), series, classes[i%10])
		}
	})
	if log.Len() >= 3*answers || log.Bytes() > budget || held > budget {
		t.Errorf("%d answers, %d bytes estimated, %d held", log.Len(), log.Bytes(), held)
	}
	runtime.KeepAlive(log)
}

func TestFeedbackBodies(t *testing.T) {
	for _, tc := range []struct {
		body string
		want Feedback
	}{
		{"{\"requestId\": \"abc\", \"label\": \"7\"}", Feedback{"abc", "7"}},
		{"{\"requestId\": \"abc\", \"label\": 7}", Feedback{"abc", "7"}},
		{"{\"requestId\": \"abc\", \"label\": -0}", Feedback{"abc", "0"}},
		{"{\"requestId\": \"abc\", \"label\": \"  7 \"}", Feedback{"abc", "7"}},
		{"{\"requestId\": \"abc\", \"label\": \"\xc3\xa9\"}", Feedback{"abc", "é"}},
		{"{\"label\": \"cat\", \"requestId\": \"Order-42.a:b_c\"}", Feedback{"Order-42.a:b_c", "cat"}},
		{"{\"requestId\": \"abc\", \"label\": 123456789012345678901234567890}", Feedback{"abc", "123456789012345678901234567890"}},
		{"{\"requestId\": \"" + strings.Repeat("a", 128) + "\", \"label\": \"" + strings.Repeat("x", 128) + "\"}", Feedback{strings.Repeat("a", 128), strings.Repeat("x", 128)}},
		{"{\"requestId\": \"abc\", \"label\": \" a b \"}", Feedback{"abc", "a b"}},
		{"\xef\xbb\xbf{\"requestId\": \"abc\", \"label\": \"7\"}", Feedback{"abc", "7"}},
		{"{\"requestId\": \"x\", \"label\": \"1\", \"label\": \"2\"}", Feedback{"x", "2"}},
		{"{\"requestId\": \"abc\", \"label\": \"" + strings.Repeat("\xc3\xa9", 128) + "\"}", Feedback{"abc", strings.Repeat("é", 128)}},
	} {
		got, err := ParseFeedback([]byte(tc.body))
		if err != nil || got != tc.want {
			t.Errorf("%.80q: got %+v, %v", tc.body, got, err)
		}
	}
}

// The reasons are the Python router's (feedback.py) for the same body.
func TestMalformedFeedbackSaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"[\"abc\", \"7\"]", "feedback must be a JSON object {\"requestId\": ..., \"label\": ...}"},
		{"{\"requestID\": \"abc\", \"label\": \"7\"}", "feedback has unknown field(s) ['requestID']; expected requestId and label"},
		{"{\"label\": \"7\"}", "requestId: must be the X-Request-Id the router answered with (1-128 characters of [A-Za-z0-9._:-]), got None"},
		{"{\"requestId\": \"a b\", \"label\": \"7\"}", "requestId: must be the X-Request-Id the router answered with (1-128 characters of [A-Za-z0-9._:-]), got 'a b'"},
		{"{\"requestId\": \"abc\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got None"},
		{"{\"requestId\": \"abc\", \"label\": \"\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got ''"},
		{"{\"requestId\": \"abc\", \"label\": true}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got True"},
		{"{\"requestId\": \"abc\", \"label\": \"" + strings.Repeat("x", 200) + "\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got '" + strings.Repeat("x", 200) + "'"},
		{"{\"requestId\": \"abc\", \"label\": \"" + strings.Repeat("x", 5000) + "\"}", "feedback body of 5033 bytes exceeds 4096 bytes"},
		{"{\"requestId\": \"abc\", \"label\": 7.0}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got 7.0"},
		{"{\"requestId\": 5, \"label\": \"7\"}", "requestId: must be the X-Request-Id the router answered with (1-128 characters of [A-Za-z0-9._:-]), got 5"},
		{"{\"requestId\": \"abc\", \"label\": \"a\\u00a0b\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got 'a\\xa0b'"},
		{"{\"requestId\": \"abc\", \"label\": \"a\\nb\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got 'a\\nb'"},
		{"{\"requestId\": \"abc\", \"label\": \"   \"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got '   '"},
		{"{\"z\": 1, \"b\": 2, \"requestId\": \"abc\", \"\\u00e9\": 3, \"B\": 4}", "feedback has unknown field(s) ['B', 'b', 'z', 'é']; expected requestId and label"},
		{"{\"requestId\": \"abc\", \"label\": " + strings.Repeat("1", 129) + "}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got '" + strings.Repeat("1", 129) + "'"},
		{"{\"requestId\": \"abc\", \"label\": null}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got None"},
		{"{\"requestId\": \"abc\\n\", \"label\": \"7\"}", "requestId: must be the X-Request-Id the router answered with (1-128 characters of [A-Za-z0-9._:-]), got 'abc\\n'"},
		{"{\"requestId\": \"abc\", \"label\": {\"b\": 1, \"a\": 2}}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got {'b': 1, 'a': 2}"},
		{"{\"requestId\": \"abc\", \"label\": \"\\u2028\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got '\\u2028'"},
		{"{\"requestId\": \"-abc\", \"label\": \"7\"}", "requestId: must be the X-Request-Id the router answered with (1-128 characters of [A-Za-z0-9._:-]), got '-abc'"},
		{"{\"requestId\": \"" + strings.Repeat("a", 129) + "\", \"label\": \"7\"}", "requestId: must be the X-Request-Id the router answered with (1-128 characters of [A-Za-z0-9._:-]), got '" + strings.Repeat("a", 129) + "'"},
		{"{\"requestId\": \"abc\", \"label\": \"" + strings.Repeat("\xc3\xa9", 129) + "\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got '" + strings.Repeat("é", 129) + "'"},
		{"{\"requestId\": \"abc\", \"label\": \"\\u0000\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got '\\x00'"},
		{"{\"requestId\": \"abc\", \"label\": [\"7\"]}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got ['7']"},
		{"{\"requestId\": null, \"label\": \"7\"}", "requestId: must be the X-Request-Id the router answered with (1-128 characters of [A-Za-z0-9._:-]), got None"},
		{"\"x\"", "feedback must be a JSON object {\"requestId\": ..., \"label\": ...}"},
		{"{\"requestId\": \"abc\", \"label\": \"" + strings.Repeat(" ", 4060) + "\"}", "label: must be the true class, a non-empty printable string of at most 128 characters or an integer, got '" + strings.Repeat(" ", 4060) + "'"},
		// Python's own wording after the prefix: "feedback is not valid JSON: Expecting value: line 1 column 1 (char 0)"
		{"not json", "feedback is not valid JSON: invalid character 'o' in literal null (expecting 'u')"},
	} {
		_, err := ParseFeedback([]byte(tc.body))
		var feedbackErr *FeedbackError
		if !errors.As(err, &feedbackErr) || err.Error() != tc.want {
			t.Errorf("%.80q:\ngot  %.300v\nwant %.300s", tc.body, err, tc.want)
		}
	}
}

func TestPrintableIsPythons(t *testing.T) {
	for s, want := range map[string]bool{ // str.isprintable() in CPython
		"": true, "a b": true, "é": true, "€": true, "😀": true, "\u0301": true,
		"\t": false, "\x7f": false, "\u00a0": false, "\u00ad": false, "\u2028": false, "\u3000": false,
		"\ue000": false, "\U000e0001": false, "\u0378": false,
	} {
		if got := isPrintable(s); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}
