package main

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var (
	testStable    = Variant{Name: Stable, Revision: "1-0-x", Version: "1.0", Upstream: "http://127.0.0.1:2", Weight: 100}
	testCandidate = Variant{Name: Candidate, Revision: "2-0-x", Version: "2.0", Upstream: "http://127.0.0.1:1"}
	testConfig    = &Config{Namespace: "ns", VisionModel: "digits", Model: "digits",
		Variants: []Variant{testStable, testCandidate}}
)

func sample(t *testing.T, m *Metrics, name string, variant *Variant, traffic, label, value string) float64 {
	t.Helper()
	labels := []string{"ns", "digits", variant.Name, variant.Revision, traffic, value}
	switch name {
	case "comparisons":
		return testutil.ToFloat64(m.comparisons.WithLabelValues(labels...))
	case "dropped":
		return testutil.ToFloat64(m.dropped.WithLabelValues(labels...))
	}
	t.Fatalf("no series %s", name)
	return 0
}

func TestAFullQueueDropsAndAnswersAreCompared(t *testing.T) {
	m := NewMetrics()
	release := make(chan struct{})
	taken := make(chan struct{}, 10)
	send := func(job *CopyJob) *TopOne {
		taken <- struct{}{}
		<-release
		label := "1"
		if string(job.Body) == "same" {
			label = "7"
		}
		return &TopOne{label, 0.9}
	}
	queue := NewCopyQueue(send, 2, 64<<20, 1, time.Minute)
	series := m.Series(testConfig, &testCandidate, ShadowCopy)
	live := Resolved(&TopOne{"7", 0.99})
	job := func(body string) *CopyJob {
		return &CopyJob{Upstream: "u", Body: []byte(body), ContentType: "image/png", Live: live, Series: series,
			Comparisons: series}
	}
	accepted := []bool{queue.Offer(job("same"))}
	<-taken // the sender holds the first copy
	accepted = append(accepted, queue.Offer(job("other")), queue.Offer(job("same")), queue.Offer(job("same")),
		queue.Offer(job("same")))
	if want := []bool{true, true, true, false, false}; !slices.Equal(accepted, want) {
		t.Fatalf("accepted %v, want %v", accepted, want)
	}
	close(release)
	queue.Close(2 * time.Second)
	for name, want := range map[[2]string]float64{{"dropped", "queue_full"}: 2, {"comparisons", "agree"}: 2,
		{"comparisons", "disagree"}: 1} {
		if got := sample(t, m, name[0], &testCandidate, ShadowCopy, "", name[1]); got != want {
			t.Errorf("%s %s = %v, want %v", name[0], name[1], got, want)
		}
	}
}

func TestTheQueueIsBoundedInBytesAndKeepsItsHighWater(t *testing.T) {
	m := NewMetrics()
	release := make(chan struct{})
	queue := NewCopyQueue(func(*CopyJob) *TopOne { <-release; return nil }, 100, 1000, 1, time.Minute)
	series := m.Series(testConfig, &testCandidate, ShadowCopy)
	offer := func(size int) bool {
		return queue.Offer(&CopyJob{Body: make([]byte, size), Live: Resolved(nil), Series: series,
			Comparisons: series})
	}
	if !offer(600) || offer(600) || !offer(400) {
		t.Fatal("the byte bound was not applied")
	}
	if queue.Bytes() != 1000 || queue.HighWater() != 1000 {
		t.Fatalf("bytes %v high water %v", queue.Bytes(), queue.HighWater())
	}
	close(release)
	queue.Close(2 * time.Second)
	if queue.Bytes() != 0 || queue.HighWater() != 1000 {
		t.Fatalf("after close: bytes %v high water %v", queue.Bytes(), queue.HighWater())
	}
}

func TestAPairedCopyOfACandidateAnswerIsComparedOnTheCandidatesLabels(t *testing.T) {
	m := NewMetrics()
	queue := NewCopyQueue(func(*CopyJob) *TopOne { return &TopOne{"3", 0.8} }, 10, 1<<20, 1, time.Minute)
	stableSeries := m.Series(testConfig, &testStable, PairedCopy)
	candidateSeries := m.Series(testConfig, &testCandidate, PairedCopy)
	queue.Offer(&CopyJob{Body: []byte("x"), Live: Resolved(&TopOne{"5", 0.9}), Series: stableSeries,
		Comparisons: candidateSeries, CopyIsStable: true})
	queue.Close(2 * time.Second)
	if got := sample(t, m, "comparisons", &testCandidate, PairedCopy, "", "disagree"); got != 1 {
		t.Fatalf("disagree on the candidate's paired series = %v", got)
	}
}

func TestCompareCountsOnlyWhenStableGaveATopOne(t *testing.T) {
	seven, one := &TopOne{"7", 0.9}, &TopOne{"1", 0.9}
	for _, c := range []struct {
		stable, candidate *TopOne
		want              string
	}{{nil, seven, ""}, {seven, nil, "error"}, {seven, seven, "agree"}, {seven, one, "disagree"}} {
		if got := Compare(c.stable, c.candidate); got != c.want {
			t.Errorf("Compare(%v, %v) = %q, want %q", c.stable, c.candidate, got, c.want)
		}
	}
}

func TestTheLiveAnswerReachesWhatWaitedForIt(t *testing.T) {
	live := &LiveAnswer{}
	got := make(chan *TopOne, 1)
	live.Then(func(top *TopOne) { got <- top })
	live.Resolve(&TopOne{"4", 0.5})
	if top := <-got; top.Label != "4" {
		t.Fatalf("got %v", top)
	}
}

func TestACopyThatWaitedLongerThanItsTimeoutIsDroppedNotSent(t *testing.T) {
	m := NewMetrics()
	release := make(chan struct{})
	taken := make(chan string, 10)
	send := func(job *CopyJob) *TopOne {
		taken <- string(job.Body)
		<-release
		return &TopOne{"7", 0.9}
	}
	queue := NewCopyQueue(send, 10, 64<<20, 1, 50*time.Millisecond)
	series := m.Series(testConfig, &testCandidate, ShadowCopy)
	job := func(body string) *CopyJob {
		return &CopyJob{Upstream: "u", Body: []byte(body), ContentType: "image/png",
			Live: Resolved(&TopOne{"7", 0.99}), Series: series, Comparisons: series}
	}
	queue.Offer(job("first"))
	if got := <-taken; got != "first" {
		t.Fatalf("sent %q first", got)
	}
	queue.Offer(job("stale")) // waits behind the first, longer than 50 ms
	time.Sleep(120 * time.Millisecond)
	close(release)
	queue.Offer(job("fresh")) // queued after the wait: sent
	if got := <-taken; got != "fresh" {
		t.Fatalf("sent %q after the wait, want the fresh copy (the stale one dropped)", got)
	}
	queue.Close(2 * time.Second)
	if got := sample(t, m, "dropped", &testCandidate, ShadowCopy, "reason", "expired"); got != 1 {
		t.Fatalf("expired drops %v, want 1", got)
	}
	if got := sample(t, m, "comparisons", &testCandidate, ShadowCopy, "result", "agree"); got != 2 {
		t.Fatalf("agree %v, want 2 (first and fresh)", got)
	}
	if queue.Bytes() != 0 {
		t.Fatalf("bytes held %v after all copies", queue.Bytes())
	}
}
