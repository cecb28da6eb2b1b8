package main

import (
	"math"
	"testing"
)

// The expectations are the Python router's answers.py: top_one and error_body of the same bytes.
func TestTopOneReadsTheHandlerAnswer(t *testing.T) {
	for _, tc := range []struct {
		body string
		want TopOne
		ok   bool
	}{
		{"{\"model\": \"digits\", \"version\": \"1.0\", \"top_k\": [{\"label\": \"7\", \"index\": 7, \"score\": 0.98}]}", TopOne{"7", 0.98}, true},
		{"{\"error\": \"bad\", \"code\": 400}", TopOne{}, false},
		{"<html>", TopOne{}, false},
		{"{\"top_k\": [{\"label\": 3, \"score\": \"0.5\"}]}", TopOne{"3", 0.5}, true},
		{"{\"top_k\": [{\"label\": 3.0, \"score\": true}]}", TopOne{"3.0", 1.0}, true},
		{"{\"top_k\": [{\"label\": -0, \"score\": false}]}", TopOne{"0", 0.0}, true},
		{"{\"top_k\": [{\"label\": null, \"score\": \" 1_0 \"}]}", TopOne{"None", 10.0}, true},
		{"{\"top_k\": [{\"label\": [1, {\"a\": \"b\"}], \"score\": \"-inf\"}]}", TopOne{"[1, {'a': 'b'}]", math.Inf(-1)}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"0x10\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": null}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1e5\"}]}", TopOne{"x", 100000.0}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"-.5E-3\"}]}", TopOne{"x", -0.0005}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1_\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"Infinity\"}]}", TopOne{"x", math.Inf(1)}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"+iNf\"}]}", TopOne{"x", math.Inf(1)}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1.\"}]}", TopOne{"x", 1.0}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \".\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1__0\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"\\u00a01\\u2003\\t\"}]}", TopOne{"x", 1.0}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"\\u001c1\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"_1\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1e_5\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1_0.5_5e1_0\"}]}", TopOne{"x", 105500000000.0}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1e400\"}]}", TopOne{"x", math.Inf(1)}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": [1]}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": 1e400, \"score\": 1}]}", TopOne{"inf", 1.0}, true},
		{"{\"top_k\": \"abc\"}", TopOne{}, false},
		{"{\"top_k\": {\"0\": 1}}", TopOne{}, false},
		{"{\"top_k\": []}", TopOne{}, false},
		{"[1]", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"score\": 1}]}", TopOne{}, false},
		{"{\"top_k\": [\"x\"]}", TopOne{}, false},
		{"{\"top_k\": [[1, 2]]}", TopOne{}, false},
		{"\xef\xbb\xbf{\"top_k\": [{\"label\": \"x\", \"score\": 1}]}", TopOne{"x", 1.0}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": 1}]} x", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": 1, \"label\": 2}]}", TopOne{"2", 1.0}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"in f\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1 0\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"1e\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"nan\"}]}", TopOne{"x", math.NaN()}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": \"-NaN\"}]}", TopOne{"x", math.NaN()}, true},
		{"{\"top_k\": [{\"label\": \"\xc3\xa9\", \"score\": 0}]}", TopOne{"é", 0.0}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": 1}]", TopOne{}, false},
		{"", TopOne{}, false},
		{"{\"TOP_K\": [{\"label\": \"x\", \"score\": 1}]}", TopOne{}, false},
		{"{\"top_k\": [{\"Label\": \"x\", \"score\": 1}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": 1}], \"top_k\": [{\"label\": \"y\", \"score\": 0.5}]}", TopOne{"y", 0.5}, true},
		{"{\"top_k\": [{\"label\": \"x\", \"score\": 1, \"score\": 0.25}]}", TopOne{"x", 0.25}, true},
		{"{\"top_k\": [{\"label\": \"\\u0037\", \"score\": 0.5}]}", TopOne{"7", 0.5}, true},
		{"{\"top_k\": [{\"lab\\u0065l\": \"7\", \"score\": 0.5}]}", TopOne{"7", 0.5}, true},
		{"{\"top_k\": [{\"label\": \"7\", \"score\": 0.5, \"x\": \"\\q\"}]}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"7\", \"score\": 0.5}], \"x\": \"\x01\"}", TopOne{}, false},
		{"{\"top_k\": [{\"label\": \"7\", \"score\": 12345678901234567891}]}", TopOne{"7", 12345678901234567891.0}, true},
		{"{\"top_k\": [{\"label\": \"7\", \"score\": 0.98765432123456789}, {\"label\": \"1\", \"score\": 0.01}]}", TopOne{"7", 0.98765432123456789}, true},
		{"{\"top_k\": [{\"label\": \"\xff\", \"score\": 0.5}]}", TopOne{}, false},
	} {
		got, ok := ParseTopOne([]byte(tc.body))
		sameScore := got.Score == tc.want.Score && math.Signbit(got.Score) == math.Signbit(tc.want.Score) ||
			math.IsNaN(got.Score) && math.IsNaN(tc.want.Score)
		if ok != tc.ok || got.Label != tc.want.Label || !sameScore {
			t.Errorf("%q: got %+v %v, want %+v %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

// Byte for byte what json.dumps writes: key order error then code, ", " and ": ", non-ASCII escaped.
func TestUpstreamErrorsReachClientsInOneForm(t *testing.T) {
	for _, tc := range []struct {
		status  int
		body    string
		variant string
		want    any // nil: the body is in the error form already
	}{
		{503, "{\"code\": 503, \"type\": \"ServiceUnavailableException\", \"message\": \"Model \\\"digits\\\" has no worker\"}", "candidate", `{"error": "upstream candidate answered 503: Model \"digits\" has no worker", "code": 503}`},
		{502, "<html>Bad Gateway</html>", "stable", `{"error": "upstream stable answered 502: <html>Bad Gateway</html>", "code": 502}`},
		{500, "", "stable", `{"error": "upstream stable answered 500: no body", "code": 500}`},
		{400, "{\"error\": \"not a decodable image\", \"code\": 400}", "stable", nil},
		{500, "{\"message\": 0, \"type\": \"T\"}", "stable", `{"error": "upstream stable answered 500: T", "code": 500}`},
		{500, "{\"message\": [1], \"type\": \"T\"}", "stable", `{"error": "upstream stable answered 500: [1]", "code": 500}`},
		{500, "{\"message\": {\"b\": 1, \"a\": false}}", "stable", `{"error": "upstream stable answered 500: {'b': 1, 'a': False}", "code": 500}`},
		{500, "{\"message\": 1e-400, \"type\": 0.0}", "stable", `{"error": "upstream stable answered 500: {\"message\": 1e-400, \"type\": 0.0}", "code": 500}`},
		{500, "{\"error\": 1}", "stable", `{"error": "upstream stable answered 500: {\"error\": 1}", "code": 500}`},
		{500, "{\"message\": \"\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 \\u0001 <&> \\u007f\\b\\f\\n\\r\\t\\\"\\\\/\"}", "stable", `{"error": "upstream stable answered 500: \u00e9 \u2603 \ud83d\ude00 \u0001 <&> \u007f\b\f\n\r\t\"\\/", "code": 500}`},
		{500, "  \xe2\x82 x \xff\xfe \xf0\x9f\x98 y\x1c ", "stable", `{"error": "upstream stable answered 500: \ufffd x \ufffd\ufffd \ufffd y", "code": 500}`},
		{500, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9", "stable", `{"error": "upstream stable answered 500: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ufffd", "code": 500}`},
		{500, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xe2\x82\xac", "stable", `{"error": "upstream stable answered 500: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ufffd", "code": 500}`},
		{500, "\xed\xa0\x80 \xc0\xaf \xe0\x80\x80 \xf4\x90\x80\x80 \xf8 \xe1\x80 \xf1\x80\x80 \xc2", "stable", `{"error": "upstream stable answered 500: \ufffd\ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd \ufffd\ufffd\ufffd\ufffd \ufffd \ufffd \ufffd \ufffd", "code": 500}`},
		{503, "{\"type\": \"\", \"message\": \"\"}", "stable", `{"error": "upstream stable answered 503: {\"type\": \"\", \"message\": \"\"}", "code": 503}`},
		{503, "[]", "stable", `{"error": "upstream stable answered 503: []", "code": 503}`},
		{503, "   ", "stable", `{"error": "upstream stable answered 503: no body", "code": 503}`},
		{503, "{\"message\": null, \"type\": 3.5}", "stable", `{"error": "upstream stable answered 503: 3.5", "code": 503}`},
		{504, "{\"message\": \"  \"}", "candidate", `{"error": "upstream candidate answered 504:   ", "code": 504}`},
	} {
		got, ok := ErrorBody(tc.status, []byte(tc.body), tc.variant)
		if tc.want == nil {
			if ok || got != nil {
				t.Errorf("%q: rewritten to %s", tc.body, got)
			}
		} else if !ok || string(got) != tc.want {
			t.Errorf("%q:\ngot  %s\nwant %s", tc.body, got, tc.want)
		}
	}
}
