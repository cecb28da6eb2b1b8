package main

import (
	"testing"
	"time"
)

func TestAVariantThatCouldNotBeReachedIsDownForAWhileThenTriedAgain(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewReachability(func() time.Time { return now })
	if r.Down("http://candidate:8080") {
		t.Fatal("down before any failure")
	}
	r.Lost("http://candidate:8080")
	now = now.Add(UnreachableFor - time.Millisecond)
	if !r.Down("http://candidate:8080") || r.Down("http://stable:8080") {
		t.Fatal("want the lost upstream down, and only it")
	}
	now = now.Add(time.Millisecond)
	if r.Down("http://candidate:8080") {
		t.Fatalf("still down %v after it was lost", UnreachableFor)
	}
}

func TestStableStandsInForTheCandidateAndNothingForStable(t *testing.T) {
	c := &Config{Variants: []Variant{{Name: Stable, Upstream: "http://s"}, {Name: Candidate, Upstream: "http://c"}}}
	if got := standIn(c, &c.Variants[1]); got == nil || got.Name != Stable {
		t.Fatalf("stand-in for the candidate: %v, want stable", got)
	}
	if got := standIn(c, &c.Variants[0]); got != nil {
		t.Fatalf("stand-in for stable: %v, want none", got)
	}
	alone := &Config{Variants: []Variant{{Name: Candidate, Upstream: "http://c"}}}
	if got := standIn(alone, &alone.Variants[0]); got != nil {
		t.Fatalf("stand-in with no stable in the config: %v, want none", got)
	}
}
