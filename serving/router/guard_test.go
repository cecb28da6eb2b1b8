package main

import (
	"strings"
	"testing"
)

const flood, calm, third = "10.0.0.66", "10.0.0.7", "10.0.0.8"

// take admits client until refused or upTo slots; returns how many it got.
func take(a *Admission, client string, upTo int) int {
	got := 0
	for got < upTo && a.Admit(client) == "" {
		got++
	}
	return got
}

func TestOneClientAloneGetsThreeQuartersOfTheSlots(t *testing.T) {
	a := NewAdmission(1<<20, 1<<20, 32)
	if got := take(a, flood, 100); got != 24 {
		t.Fatalf("took %d slots, want 24", got)
	}
	if why := a.Admit(flood); !strings.Contains(why, "this client (10.0.0.66) has 24 of them") {
		t.Fatalf("refusal %q", why)
	}
}

func TestTheLastQuarterIsLeftToTheOtherClients(t *testing.T) {
	a := NewAdmission(1<<20, 1<<20, 32)
	take(a, flood, 100)
	if why := a.Admit(calm); why != "" {
		t.Fatalf("a client holding nothing was refused past the flood: %s", why)
	}
	if a.Admit(flood) == "" {
		t.Fatal("the flood got a slot beyond its share")
	}
	if take(a, third, 100) < 1 {
		t.Fatal("a third client got nothing")
	}
	if a.InFlight() > 32 {
		t.Fatalf("%v in flight", a.InFlight())
	}
}

func TestEverySlotTakenRefusesEveryone(t *testing.T) {
	a := NewAdmission(1<<20, 1<<20, 4)
	for _, client := range []string{"a", "b", "c", "d"} {
		if why := a.Admit(client); why != "" {
			t.Fatalf("%s refused: %s", client, why)
		}
	}
	if why := a.Admit("e"); why != "4 requests are being forwarded, the most it takes" {
		t.Fatalf("refusal %q", why)
	}
}

func TestBelowContentionAClientMayHoldMoreThanItsShare(t *testing.T) {
	a := NewAdmission(1<<20, 1<<20, 32)
	take(a, calm, 1)
	if got := take(a, flood, 20); got != 20 { // 21 of 32 taken: not contended yet
		t.Fatalf("took %d, want 20", got)
	}
}

func TestReleasedSlotsAreGivenBackByClient(t *testing.T) {
	a := NewAdmission(1<<20, 1<<20, 32)
	take(a, flood, 100)
	for range 24 {
		a.Release(flood)
	}
	if a.InFlight() != 0 || len(a.held) != 0 {
		t.Fatalf("in flight %v, held %v", a.InFlight(), a.held)
	}
	if got := take(a, flood, 100); got != 24 {
		t.Fatalf("took %d after release, want 24", got)
	}
}

func TestAPredictionTheSlotsWouldRefuseIsRefusedBeforeItsBody(t *testing.T) {
	a := NewAdmission(1<<20, 1<<20, 32)
	take(a, flood, 100)
	if _, why := a.Reserve(true, 1000, flood); why == "" {
		t.Fatal("the flood's prediction was let read its body")
	}
	if size, why := a.Reserve(true, 1000, calm); why != "" || size != 1000 {
		t.Fatalf("calm client: %d %q", size, why)
	}
	if size, why := a.Reserve(false, 100, flood); why != "" || size != 100 { // not forwarded: no slot needed
		t.Fatalf("feedback: %d %q", size, why)
	}
}

func TestBodiesInProgressAreBoundedByDeclaredSize(t *testing.T) {
	a := NewAdmission(1000, 600, 32)
	if size, why := a.Reserve(true, -1, calm); why != "" || size != 600 { // chunked: the body limit
		t.Fatalf("chunked: %d %q", size, why)
	}
	if size, why := a.Reserve(true, 5000, calm); why == "" {
		t.Fatalf("over the bound: reserved %d", size)
	} else if why != "bodies in progress hold 600 bytes of the 1000 it takes" {
		t.Fatalf("refusal %q", why)
	}
	a.Unreserve(600)
	if a.Reserved() != 0 {
		t.Fatalf("reserved %v", a.Reserved())
	}
}
