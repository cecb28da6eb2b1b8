package main

import (
	"strconv"
	"strings"
	"testing"
)

func examplePicker(t *testing.T, fields string) *Picker {
	t.Helper()
	c, err := ParseConfig(routerJSON(fields), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPicker(c)
	if p.Config() != c {
		t.Fatal("Config() is not the config the picker was made with")
	}
	return p
}

// The buckets are Python's: hashlib.blake2b(value.encode(), digest_size=8), big-endian / 2**64 * 100.0.
func TestStickyBucketsAreThePythonRouters(t *testing.T) {
	for value, want := range map[string]float64{
		"s0":                     70.21680074479575,
		"user-42":                43.60472144288925,
		"x-visionroll-session":   85.24228477182508,
		"é":                      79.33768955844694,
		"":                       89.31675160897387,
		strings.Repeat("a", 200): 70.3292299748637,
	} {
		if got := StickyBucket(value); got != want {
			t.Errorf("%.20q: got %v, want %v", value, got, want)
		}
	}
}

func TestBucketsFollowWeightsAndZeroWeightGetsNothing(t *testing.T) {
	for _, tc := range []struct {
		name, fields string
		want         map[string]int
	}{
		{"75/25", `, "shadow": null`, map[string]int{Stable: 750, Candidate: 250}},
		{"100/0", `, "shadow": null, "variants": [` +
			`{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 100}, ` +
			`{"name": "candidate", "revision": "r", "version": "1", "upstream": "http://b:1", "weight": 0}]`,
			map[string]int{Stable: 1000}},
		{"0/100", `, "shadow": null, "variants": [` +
			`{"name": "stable", "revision": "r", "version": "1", "upstream": "http://a:1", "weight": 0}, ` +
			`{"name": "candidate", "revision": "r", "version": "1", "upstream": "http://b:1", "weight": 100}]`,
			map[string]int{Candidate: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := examplePicker(t, tc.fields)
			counts := map[string]int{}
			for bucket := range 1000 {
				counts[p.Route(float64(bucket)/1000, 0.5, 0.5, "").Live.Name]++
			}
			if len(counts) != len(tc.want) || counts[Stable] != tc.want[Stable] || counts[Candidate] != tc.want[Candidate] {
				t.Errorf("got %v, want %v", counts, tc.want)
			}
		})
	}
	p := examplePicker(t, `, "shadow": null`)
	for draw, want := range map[float64]string{0: Stable, 0.7499999: Stable, 0.75: Candidate, 0.9999999: Candidate} {
		if got := p.Route(draw, 0.5, 0.5, "").Live.Name; got != want {
			t.Errorf("draw %v: got %s, want %s", draw, got, want)
		}
	}
}

func TestStickySessionsAreStableAndSpread(t *testing.T) {
	p := examplePicker(t, "")
	candidate := 0
	for i := range 400 {
		session := "s" + strconv.Itoa(i)
		first := p.Route(0.0, 0.5, 0.5, session).Live
		if again := p.Route(0.99, 0.5, 0.5, session).Live; again != first {
			t.Fatalf("%s: %s then %s", session, first.Name, again.Name)
		}
		if first.Name == Candidate {
			candidate++
		}
	}
	if candidate < 60 || candidate > 140 { // 25% of 400, loosely
		t.Errorf("%d of 400 sessions on the candidate", candidate)
	}
	if got := p.Route(0.99, 0.5, 0.5, "s0").Live.Name; got != Stable { // bucket 70.2 of 75/25
		t.Errorf("s0: %s", got)
	}
	if got := p.Route(0.0, 0.5, 0.5, "x-visionroll-session").Live.Name; got != Candidate { // bucket 85.2
		t.Errorf("x-visionroll-session: %s", got)
	}
}

func TestShadowIsNeverTheLiveVariantAndFollowsPercent(t *testing.T) {
	p := examplePicker(t, `, "shadow": {"variant": "candidate", "percent": 30}`)
	candidate := p.Config().VariantNamed(Candidate)
	for _, tc := range []struct {
		name                         string
		draw, mirrorDraw, pairedDraw float64
		want                         Route
	}{
		{"bucket 90: the candidate is live", 0.9, 0.0, 1.0, Route{Live: candidate}},
		{"under 30%", 0.1, 0.29, 1.0, Route{Live: p.Config().VariantNamed(Stable), Shadow: candidate}},
		{"30%", 0.1, 0.30, 1.0, Route{Live: p.Config().VariantNamed(Stable)}},
	} {
		if got := p.Route(tc.draw, tc.mirrorDraw, tc.pairedDraw, ""); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	zero := examplePicker(t, `, "shadow": {"variant": "candidate", "percent": 0}`)
	if got := zero.Route(0.1, 0.0, 0.0, ""); got.Shadow != nil {
		t.Errorf("a shadow of 0%% mirrors: %+v", got)
	}
}

func TestPairedCopiesGoToTheOtherVariantForTheirShare(t *testing.T) {
	p := examplePicker(t, `, "shadow": null, "paired": {"candidatePercent": 10, "stablePercent": 2}`)
	stable, candidate := p.Config().VariantNamed(Stable), p.Config().VariantNamed(Candidate)
	for _, tc := range []struct {
		name             string
		draw, pairedDraw float64
		want             Route
	}{
		{"candidate live, 10% copied", 0.9, 0.09, Route{Live: candidate, Paired: stable}},
		{"candidate live, 10%", 0.9, 0.10, Route{Live: candidate}},
		{"stable live, 2% copied", 0.1, 0.019, Route{Live: stable, Paired: candidate}},
		{"stable live, 2%", 0.1, 0.02, Route{Live: stable}},
	} {
		if got := p.Route(tc.draw, 0.0, tc.pairedDraw, ""); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if examplePicker(t, "").Config().Paired != nil {
		t.Error("absent paired: copies")
	}
}

func TestARequestGetsAtMostOneCopyAndAMirrorComesFirst(t *testing.T) {
	p := examplePicker(t, `, "shadow": {"variant": "candidate", "percent": 50}, "paired": {"stablePercent": 100}`)
	stable, candidate := p.Config().VariantNamed(Stable), p.Config().VariantNamed(Candidate)
	if got, want := p.Route(0.1, 0.2, 0.0, ""), (Route{Live: stable, Shadow: candidate}); got != want {
		t.Errorf("mirrored: got %+v, want %+v", got, want)
	}
	if got, want := p.Route(0.1, 0.7, 0.0, ""), (Route{Live: stable, Paired: candidate}); got != want {
		t.Errorf("paired: got %+v, want %+v", got, want)
	}
}
