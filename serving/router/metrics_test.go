package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// byClass is the feedback-by-class sample of a label set, and whether it exists.
func byClass(m *Metrics, v *Variant, traffic, class, outcome string) (float64, bool) {
	families, err := m.Registry.Gather()
	if err != nil {
		panic(err)
	}
	want := map[string]string{"namespace": "ns", "visionmodel": "digits", "variant": v.Name, "revision": v.Revision,
		"traffic": traffic, "class": class, "outcome": outcome}
	for _, family := range families {
		if family.GetName() != "visionroll_router_feedback_class_total" {
			continue
		}
	metrics:
		for _, metric := range family.GetMetric() {
			for _, label := range metric.GetLabel() {
				if want[label.GetName()] != label.GetValue() {
					continue metrics
				}
			}
			return metric.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func TestAClassSeenOnceStartsAtZeroForEveryLiveRevisionBeforeAndAfter(t *testing.T) {
	m := NewMetrics()
	stable := m.Series(testConfig, &testStable, Live)
	if _, ok := byClass(m, &testStable, Live, "7", "correct"); ok {
		t.Fatal("a class series exists before any class is known")
	}
	m.FeedbackClassesMu.Lock()
	m.AddFeedbackClass(testConfig, "7") // stable's first label of class 7
	m.FeedbackClassesMu.Unlock()
	stable.Labelled("7", "correct")
	for outcome, want := range map[string]float64{"correct": 1, "wrong": 0} {
		if got, ok := byClass(m, &testStable, Live, "7", outcome); !ok || got != want {
			t.Fatalf("stable 7 %s = %v (exists %v), want %v", outcome, got, ok, want)
		}
	}
	m.Series(testConfig, &testCandidate, Live) // the candidate's first request, before any label of its own
	for _, outcome := range outcomes {
		if got, ok := byClass(m, &testCandidate, Live, "7", outcome); !ok || got != 0 {
			t.Fatalf("candidate 7 %s = %v (exists %v), want 0", outcome, got, ok)
		}
	}
	m.Series(testConfig, &testCandidate, PairedCopy) // copies are not labelled: no label series
	if _, ok := byClass(m, &testCandidate, PairedCopy, "7", "correct"); ok {
		t.Fatal("a paired series got class series")
	}
	m.FeedbackClassesMu.Lock()
	m.AddFeedbackClass(testConfig, "3") // a new class: both live revisions start counting it at 0
	count := m.FeedbackClassCount()
	m.FeedbackClassesMu.Unlock()
	for _, v := range []*Variant{&testStable, &testCandidate} {
		for _, outcome := range outcomes {
			if got, ok := byClass(m, v, Live, "3", outcome); !ok || got != 0 {
				t.Fatalf("%s 3 %s = %v (exists %v), want 0", v.Name, outcome, got, ok)
			}
		}
	}
	if count != 2 {
		t.Fatalf("%d classes, want 2", count)
	}
}

func TestAnUpstreamAnswerIsCountedByCodeAndClass(t *testing.T) {
	m := NewMetrics()
	s := m.Series(testConfig, &testStable, Live)
	s.Observe("200", 0.01, &TopOne{"7", 0.9})
	s.Observe(Unreachable, 0.5, nil)
	labels := []string{"ns", "digits", Stable, "1-0-x", Live}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(append(labels, "200")...)); got != 1 {
		t.Fatalf("200s = %v", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(append(labels, "error")...)); got != 1 {
		t.Fatalf("errors = %v", got)
	}
	if got := testutil.ToFloat64(m.predictions.WithLabelValues(append(labels, "7")...)); got != 1 {
		t.Fatalf("class 7 = %v", got)
	}
	// Copies' drop series start at 0 with their series.
	m.Series(testConfig, &testCandidate, ShadowCopy)
	if got := testutil.ToFloat64(m.dropped.WithLabelValues("ns", "digits", Candidate, "2-0-x", ShadowCopy,
		"queue_full")); got != 0 {
		t.Fatalf("drops = %v", got)
	}
}

func TestTheResidentPeakIsNeverBelowTheResidentMemoryOfTheSameScrapeWhileMemoryGrows(t *testing.T) {
	m := NewMetrics()
	done, grown := make(chan struct{}), make(chan [][]byte)
	go func() { // memory grows while the scrapes run, as under a flood of bodies
		var held [][]byte
		for len(held) < 400 {
			select {
			case <-done:
				grown <- held
				return
			default:
			}
			block := make([]byte, 256<<10)
			for j := 0; j < len(block); j += 4096 {
				block[j] = 1 // touched, so resident
			}
			held = append(held, block)
		}
		<-done
		grown <- held
	}()
	defer func() { close(done); <-grown }()
	for i := 0; i < 300; i++ {
		families, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		values := map[string]float64{}
		for _, family := range families {
			if n := family.GetName(); n == "process_resident_memory_bytes" ||
				n == "visionroll_router_resident_memory_peak_bytes" {
				values[n] = family.GetMetric()[0].GetGauge().GetValue()
			}
		}
		resident, peak := values["process_resident_memory_bytes"], values["visionroll_router_resident_memory_peak_bytes"]
		if resident <= 0 || peak < resident {
			t.Fatalf("scrape %d: resident %.0f, peak %.0f", i, resident, peak)
		}
	}
}
