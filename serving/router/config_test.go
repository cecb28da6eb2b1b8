package main

import (
	"errors"
	"reflect"
	"testing"
)

// routerJSON is the contract's example with fields appended: a repeated key takes the last value, as in Python.
func routerJSON(fields string) []byte {
	return []byte(`{"namespace": "default", "visionmodel": "digits", "model": "digits", "variants": [` +
		`{"name": "stable", "revision": "1-0-ab12cd", "version": "1.0", "upstream": "http://digits-1-0-ab12cd.default.svc:8080", "weight": 75}, ` +
		`{"name": "candidate", "revision": "2-0-ef34aa", "version": "2.0", "upstream": "http://digits-2-0-ef34aa.default.svc:8080", "weight": 25}], ` +
		`"shadow": {"variant": "candidate", "percent": 100}, "stickyHeader": "X-VisionRoll-Session"` + fields + `}`)
}

var (
	exampleStable    = Variant{"stable", "1-0-ab12cd", "1.0", "http://digits-1-0-ab12cd.default.svc:8080", 75}
	exampleCandidate = Variant{"candidate", "2-0-ef34aa", "2.0", "http://digits-2-0-ef34aa.default.svc:8080", 25}
)

func TestValidConfigsParse(t *testing.T) {
	example := func(change func(*Config)) *Config {
		c := &Config{Namespace: "default", VisionModel: "digits", Model: "digits",
			Variants: []Variant{exampleStable, exampleCandidate}, Shadow: &Shadow{Candidate, 100},
			StickyHeader: "x-visionroll-session"}
		change(c)
		return c
	}
	only := func(upstream string) []Variant { return []Variant{{"stable", "r", "1", upstream, 100}} }
	variant := func(upstream string) string {
		return `, "shadow": null, "variants": [{"name": "stable", "revision": " r ", "version": "1", "upstream": ` +
			upstream + `, "weight": 100, "extra": [1]}]`
	}
	for _, tc := range []struct {
		name, fields string
		want         *Config
	}{
		{"the contract example", ``, example(func(*Config) {})},
		{"paired, no shadow, no sticky header, other fields",
			`, "paired": {"candidatePercent": 10, "stablePercent": 2.5}, "shadow": null, "stickyHeader": null, "other": 1`,
			example(func(c *Config) { c.Shadow, c.StickyHeader, c.Paired = nil, "", &Paired{10, 2.5} })},
		{"trimmed, normalised, paired 0 with one variant", variant(`"  HTTP://User@A:1/  "`) + `, "paired": {"candidatePercent": 0}`,
			example(func(c *Config) { c.Variants, c.Shadow, c.Paired = only("http://User@A:1"), nil, &Paired{} })},
		{"the alias wins, even null", `, "stickyHeader": null, "sticky_header": " X "`,
			example(func(c *Config) { c.StickyHeader = "" })},
		{"the alias wins", `, "sticky_header": " X "`, example(func(*Config) {})},
		{"an information separator is not trimmed", `, "namespace": "\u001c"`,
			example(func(c *Config) { c.Namespace = "\x1c" })},
		{"Python names, unknown shadow fields", `, "paired": {"stable_percent": 5}, "shadow": {"variant": "stable", "percent": 0.5, "x": 1}`,
			example(func(c *Config) { c.Shadow, c.Paired = &Shadow{Stable, 0.5}, &Paired{0, 5} })},
		{"IPv6, empty query and fragment", variant(`"http://[::1]:80?#"`),
			example(func(c *Config) { c.Variants, c.Shadow = only("http://[::1]:80"), nil })},
		{"control characters and tabs out, port 0", variant(`"\u0001ht\ttp://a\n:0"`),
			example(func(c *Config) { c.Variants, c.Shadow = only("http://a:0"), nil })},
		{"IPvFuture", variant(`"https://[v1.x]"`),
			example(func(c *Config) { c.Variants, c.Shadow = only("https://[v1.x]"), nil })},
		{"IPv6 zone", variant(`"http://[fe80::1%eth0]:1"`),
			example(func(c *Config) { c.Variants, c.Shadow = only("http://[fe80::1%eth0]:1"), nil })},
		{"a port that is not one: the schema does not read it", variant(`"http://a:x"`),
			example(func(c *Config) { c.Variants, c.Shadow = only("http://a:x"), nil })},
		{"a port out of range", variant(`"http://a:65536"`),
			example(func(c *Config) { c.Variants, c.Shadow = only("http://a:65536"), nil })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig(routerJSON(tc.fields), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if reason := CheckConfigText(routerJSON(tc.fields)); reason != "" {
				t.Errorf("CheckConfigText: %q", reason)
			}
		})
	}
}

// The messages are the Python router's (pydantic's, through config.py's _first_error, before the router was Go),
// checked against it.
func TestInvalidConfigsNameTheField(t *testing.T) {
	for _, tc := range []struct{ name, fields, want string }{
		{"no variants", `, "variants": []`, "variants: List should have at least 1 item after validation, not 0, got []"},
		{"weights sum to 90", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 90}]`, "variants[*].weight: must sum to 100, got 90"},
		{"name blue", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "name": "blue"}]`, "variants[0].name: Input should be 'stable' or 'candidate', got 'blue'"},
		{"upstream ftp", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "ftp://a"}]`, "variants[0].upstream: must be an http(s) URL, got 'ftp://a'"},
		{"weight true", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": true}]`, "variants[0].weight: Input should be a valid integer, got True"},
		{"shadow nobody", `, "shadow": {"variant": "nobody", "percent": 10}`, "shadow.variant: Input should be 'stable' or 'candidate', got 'nobody'"},
		{"shadow percent 101", `, "shadow": {"variant": "candidate", "percent": 101}`, "shadow.percent: Input should be less than or equal to 100, got 101"},
		{"model empty", `, "model": ""`, "model: String should have at least 1 character, got ''"},
		{"paired number", `, "paired": 10`, "paired: must be an object or null, got 10"},
		{"paired candidatePercent 101", `, "paired": {"candidatePercent": 101}`, "paired.candidatePercent: Input should be less than or equal to 100, got 101"},
		{"paired candidatePercent string", `, "paired": {"candidatePercent": "10"}`, "paired.candidatePercent: Input should be a valid number, got '10'"},
		{"paired stablePercent -1", `, "paired": {"stablePercent": -1}`, "paired.stablePercent: Input should be greater than or equal to 0, got -1"},
		{"paired unknown field", `, "paired": {"percent": 10}`, "paired: unknown field 'percent'"},
		{"paired without candidate", `, "paired": {"candidatePercent": 10}, "shadow": null, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100}]`, "paired: copies need both variants ['stable', 'candidate'], got ['stable']"},
		{"namespace number", `, "namespace": 1`, "namespace: Input should be a valid string, got 1"},
		{"namespace blank", `, "namespace": "  "`, "namespace: String should have at least 1 character, got '  '"},
		{"namespace object", `, "namespace": {"b": 1, "a": [1.5, null, true, false]}`, "namespace: Input should be a valid string, got {'b': 1, 'a': [1.5, None, True, False]}"},
		{"namespace big float", `, "namespace": 1e16`, "namespace: Input should be a valid string, got 1e+16"},
		{"namespace small float", `, "namespace": 1e-5`, "namespace: Input should be a valid string, got 1e-05"},
		{"namespace whole float", `, "namespace": 123.0`, "namespace: Input should be a valid string, got 123.0"},
		{"namespace nested", `, "namespace": [{"k": "v"}, -0.0, 1.5e300, -0, 1e400]`, "namespace: Input should be a valid string, got [{'k': 'v'}, -0.0, 1.5e+300, 0, inf]"},
		{"namespace quotes", `, "namespace": ["it's", "it's \"x\"", "\u0001\u007f\u00a0\u00e9\u2028\ud83d\ude00\\"]`, "namespace: Input should be a valid string, got [\"it's\", 'it\\'s \"x\"', '\\x01\\x7f\\xa0é\\u2028😀\\\\']"},
		{"namespace white space", `, "namespace": "\u0085\u00a0\u3000"`, "namespace: String should have at least 1 character, got '\\x85\\xa0\\u3000'"},
		{"visionmodel after namespace", `, "visionmodel": 2, "namespace": 1`, "namespace: Input should be a valid string, got 1"},
		{"variants object", `, "variants": {}`, "variants: Input should be a valid list, got {}"},
		{"variants string", `, "variants": "ab"`, "variants: Input should be a valid list, got 'ab'"},
		{"variants null", `, "variants": null`, "variants: Input should be a valid list, got None"},
		{"variant number", `, "variants": [1]`, "variants[0]: must be an object or null, got 1"},
		{"variant null", `, "variants": [null]`, "variants[0]: must be an object or null, got None"},
		{"name number", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "name": 1}]`, "variants[0].name: Input should be 'stable' or 'candidate', got 1"},
		{"name padded", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "name": " stable"}]`, "variants[0].name: Input should be 'stable' or 'candidate', got ' stable'"},
		{"name upper", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "name": "Stable"}]`, "variants[0].name: Input should be 'stable' or 'candidate', got 'Stable'"},
		{"weight float", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 100.0}]`, "variants[0].weight: Input should be a valid integer, got 100.0"},
		{"weight exponent", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 1E2}]`, "variants[0].weight: Input should be a valid integer, got 100.0"},
		{"weight string", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": "100"}]`, "variants[0].weight: Input should be a valid integer, got '100'"},
		{"weight 101", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 101}]`, "variants[0].weight: Input should be less than or equal to 100, got 101"},
		{"weight -1", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": -1}]`, "variants[0].weight: Input should be greater than or equal to 0, got -1"},
		{"weight huge", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 1000000000000000000000000000000}]`, "variants[0].weight: Input should be less than or equal to 100, got 1000000000000000000000000000000"},
		{"weight huge negative", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": -100000000000000000000000}]`, "variants[0].weight: Input should be greater than or equal to 0, got -100000000000000000000000"},
		{"weight -0", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": -0}]`, "variants[*].weight: must sum to 100, got 0"},
		{"weight missing", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1"}]`, "variants[0].weight: Field required"},
		{"revision blank", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "revision": " \t"}]`, "variants[0].revision: String should have at least 1 character, got ' \\t'"},
		{"version number", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "version": 1.0}]`, "variants[0].version: Input should be a valid string, got 1.0"},
		{"upstream path", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://a:1/x"}]`, "variants[0].upstream: must be scheme://host:port only, got 'http://a:1/x'"},
		{"upstream padded path", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "  http://a:1/x  "}]`, "variants[0].upstream: must be scheme://host:port only, got '  http://a:1/x  '"},
		{"upstream no host", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://:80"}]`, "variants[0].upstream: must be an http(s) URL, got 'http://:80'"},
		{"upstream user no host", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://a@"}]`, "variants[0].upstream: must be an http(s) URL, got 'http://a@'"},
		{"upstream query", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://a?x"}]`, "variants[0].upstream: must be scheme://host:port only, got 'http://a?x'"},
		{"upstream fragment", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://a#f"}]`, "variants[0].upstream: must be scheme://host:port only, got 'http://a#f'"},
		{"upstream no slashes", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http:a"}]`, "variants[0].upstream: must be an http(s) URL, got 'http:a'"},
		{"upstream three slashes", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http:///a"}]`, "variants[0].upstream: must be an http(s) URL, got 'http:///a'"},
		{"upstream digit scheme", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "1http://a"}]`, "variants[0].upstream: must be an http(s) URL, got '1http://a'"},
		{"upstream open bracket", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://[::1:80"}]`, "variants[0].upstream: Invalid IPv6 URL, got 'http://[::1:80'"},
		{"upstream bracketed name", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://[zz]:80"}]`, "variants[0].upstream: 'zz' does not appear to be an IPv4 or IPv6 address, got 'http://[zz]:80'"},
		{"upstream bracketed IPv4", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://[1.2.3.4]:80"}]`, "variants[0].upstream: An IPv4 address cannot be in brackets, got 'http://[1.2.3.4]:80'"},
		{"upstream bad IPvFuture", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": "http://[vz.x]:1"}]`, "variants[0].upstream: IPvFuture address is invalid, got 'http://[vz.x]:1'"},
		{"upstream number", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "upstream": 5}]`, "variants[0].upstream: Input should be a valid string, got 5"},
		{"second variant", `, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 50}, {"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "name": "candidate", "weight": "x"}]`, "variants[1].weight: Input should be a valid integer, got 'x'"},
		{"names repeat", `, "shadow": null, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 50}, {"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 50}]`, "variants: names must be unique, got ['stable', 'stable']"},
		{"three variants", `, "shadow": null, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 50}, {"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "name": "candidate", "weight": 25}, {"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 25}]`, "variants: names must be unique, got ['stable', 'candidate', 'stable']"},
		{"shadow field error before the names", `, "shadow": 1, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 50}, {"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100, "weight": 50}]`, "shadow: must be an object or null, got 1"},
		{"shadow number", `, "shadow": 1`, "shadow: must be an object or null, got 1"},
		{"shadow list", `, "shadow": []`, "shadow: must be an object or null, got []"},
		{"shadow variant missing", `, "shadow": {"variant": "candidate", "percent": 1}, "variants": [{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100}]`, "shadow.variant: must name one of the variants ['stable'], got 'candidate'"},
		{"shadow percent string", `, "shadow": {"variant": "stable", "percent": "1"}`, "shadow.percent: Input should be a valid number, got '1'"},
		{"shadow percent bool", `, "shadow": {"variant": "stable", "percent": true}`, "shadow.percent: Input should be a valid number, got True"},
		{"shadow percent 100.5", `, "shadow": {"variant": "stable", "percent": 100.5}`, "shadow.percent: Input should be less than or equal to 100, got 100.5"},
		{"shadow percent 1e400", `, "shadow": {"variant": "stable", "percent": 1e400}`, "shadow.percent: Input should be less than or equal to 100, got inf"},
		{"shadow percent -1e400", `, "shadow": {"variant": "stable", "percent": -1e400}`, "shadow.percent: Input should be greater than or equal to 0, got -inf"},
		{"shadow percent huge integer", `, "shadow": {"variant": "stable", "percent": 100000000000000000000001}`, "shadow.percent: Input should be less than or equal to 100, got 100000000000000000000001"},
		{"shadow percent beyond float", `, "shadow": {"variant": "stable", "percent": 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}`, "shadow.percent: Input should be a valid number, got 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"},
		{"shadow percent missing", `, "shadow": {"variant": "stable"}`, "shadow.percent: Field required"},
		{"paired unknown fields in order", `, "paired": {"x": 1, "a": 2}`, "paired: unknown field 'x'"},
		{"paired share before unknown field", `, "paired": {"x": 1, "candidatePercent": "10"}`, "paired.candidatePercent: Input should be a valid number, got '10'"},
		{"paired Python name and alias", `, "paired": {"candidate_percent": 10, "candidatePercent": 20}`, "paired: unknown field 'candidate_percent'"},
		{"paired Python name", `, "paired": {"candidate_percent": "x"}`, "paired.candidate_percent: Input should be a valid number, got 'x'"},
		{"paired alias wins", `, "paired": {"candidatePercent": "x", "candidate_percent": 1}`, "paired.candidatePercent: Input should be a valid number, got 'x'"},
		{"stickyHeader blank", `, "stickyHeader": " "`, "stickyHeader: String should have at least 1 character, got ' '"},
		{"stickyHeader number", `, "stickyHeader": 1`, "stickyHeader: Input should be a valid string, got 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(routerJSON(tc.fields), nil)
			var configErr *ConfigError
			if !errors.As(err, &configErr) || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			if reason := CheckConfigText(routerJSON(tc.fields)); reason != tc.want {
				t.Errorf("CheckConfigText: %q", reason)
			}
		})
	}
}

func TestNotAJSONObjectIsAConfigError(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`{"variants": `, "router.json is not valid JSON: unexpected EOF"},
		{`{"namespace": NaN}`, "router.json is not valid JSON: invalid character 'N' looking for beginning of value"},
		{`{} {}`, "router.json is not valid JSON: extra data after the value"},
		{"{\"namespace\": \"\xff\"}", "router.json is not valid JSON: invalid UTF-8 at byte 15"},
		{"\xef\xbb\xbf{}", "router.json is not valid JSON: unexpected UTF-8 BOM"},
		{``, "router.json is not valid JSON: unexpected EOF"},
		{`[1]`, "router.json must be a JSON object"},
		{`"x"`, "router.json must be a JSON object"},
		{`{}`, "namespace: Field required"},
	} {
		if got := CheckConfigText([]byte(tc.text)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestResolveMapsClusterHostsToLoopback(t *testing.T) {
	mapping, err := ParseResolve([]string{" Digits-1-0-AB12CD.default.svc:8080 = 127.0.0.1:18080 ", "a:1=b:2=c"})
	want := map[string]string{"digits-1-0-ab12cd.default.svc:8080": "127.0.0.1:18080", "a:1": "b:2=c"}
	if err != nil || !reflect.DeepEqual(mapping, want) {
		t.Fatalf("got %v, %v", mapping, err)
	}
	parsed, err := ParseConfig(routerJSON(""), mapping)
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.VariantNamed(Stable).Upstream; got != "http://127.0.0.1:18080" {
		t.Errorf("stable: %s", got)
	}
	if got := parsed.VariantNamed(Candidate).Upstream; got != exampleCandidate.Upstream {
		t.Errorf("candidate: %s", got)
	}
	for _, entry := range []string{"no-port=127.0.0.1", "x", "a:1=b", "a=b:1", "it's"} {
		_, err := ParseResolve([]string{entry})
		var configErr *ConfigError
		if want := "--resolve " + pyRepr(entry) + ": expected HOST:PORT=IP:PORT"; !errors.As(err, &configErr) ||
			err.Error() != want {
			t.Errorf("%s: got %v, want %s", entry, err, want)
		}
	}
	if got := pyRepr("it's"); got != `"it's"` {
		t.Errorf("pyRepr: %s", got)
	}
}

func TestResolveUpstream(t *testing.T) {
	resolve := map[string]string{"a:80": "127.0.0.1:1", "a:443": "127.0.0.1:2", "::1:8080": "127.0.0.1:3",
		"b:1": "10.0.0.1:1"}
	for upstream, want := range map[string]string{ // checked against config.py's resolve_upstream
		"http://a":          "http://127.0.0.1:1",
		"https://a":         "https://127.0.0.1:2",
		"http://A:80":       "http://127.0.0.1:1",
		"http://a:0":        "http://127.0.0.1:1",
		"http://[::1]:8080": "http://127.0.0.1:3",
		"http://u@b:1":      "http://10.0.0.1:1",
		"http://c:1":        "http://c:1",
		"http://a:x":        "http://a:x",
		"http://a:+80":      "http://a:+80",
		"http://a:65616":    "http://a:65616",
	} {
		if got := ResolveUpstream(upstream, resolve); got != want {
			t.Errorf("%s: got %s, want %s", upstream, got, want)
		}
	}
}

func TestPythonReprOfJSONValues(t *testing.T) {
	for _, tc := range []struct{ json, want string }{ // repr() in CPython 3.11 of json.loads(json)
		{`3.0`, "3.0"}, {`1e16`, "1e+16"}, {`1e15`, "1000000000000000.0"}, {`1e-5`, "1e-05"},
		{`0.0001`, "0.0001"}, {`123456789012345678.0`, "1.2345678901234568e+17"}, {`1.5e300`, "1.5e+300"},
		{`-0.0`, "-0.0"}, {`0.1`, "0.1"}, {`2.5e-7`, "2.5e-07"}, {`5e-324`, "5e-324"}, {`1e-400`, "0.0"},
		{`1.7976931348623157e308`, "1.7976931348623157e+308"}, {`12345.678`, "12345.678"}, {`-1e400`, "-inf"},
		{`-0`, "0"}, {`12345678901234567890123`, "12345678901234567890123"},
		{`"\u0000\t\n\r\u001b\\ \u00ad\u00e9\u0378\u2028\ufeff\ud83d\ude00\udb40\udc01"`,
			`'\x00\t\n\r\x1b\\ \xadé\u0378\u2028\ufeff😀\U000e0001'`},
		{`"'"`, `"'"`}, {`"'\""`, `'\'"'`}, {`"\""`, `'"'`},
		{`{"b": [], "a": {}, "b": null}`, "{'b': None, 'a': {}}"},
	} {
		value, err := decodeJSON([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		if got := pyJSONRepr(value); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.json, got, tc.want)
		}
	}
}
