// Which variant serves a request, and whether a copy goes to the other one: pure functions of the config and random
// draws (visionroll_serving/router/routing.py, same choices for the same draws).
//
// Weights are whole percentages, so the choice is a bucket in [0, 100): a uniform draw for anonymous requests, a
// stable hash of the sticky header's value otherwise, so one session always lands on the same variant while the
// weights stay the same (and on the same one as with the Python router). A request gets at most one copy: a shadow
// mirror when the shadow's share draws it, else a paired copy when the live variant's paired share draws it (each
// from its own uniform draw).
package main

import (
	"encoding/binary"
	"sort"

	"golang.org/x/crypto/blake2b"
)

// StickyBucket is the bucket in [0, 100) of a sticky header's value: its BLAKE2b-64 digest, big-endian, over 2^64.
func StickyBucket(value string) float64 {
	hash, _ := blake2b.New(8, nil) // fails only for a size outside 1-64 or a key over 64 bytes
	hash.Write([]byte(value))
	return float64(binary.BigEndian.Uint64(hash.Sum(nil))) / (1 << 64) * 100
}

// Route: the variant that answers, and the copy, if any: Shadow (mirrored: it goes out beside the live request) or
// Paired (it goes out once the live answer is in).
type Route struct {
	Live, Shadow, Paired *Variant
}

// pairedCopy: the variant that gets the paired copy of a live variant's request, and the share of them copied.
type pairedCopy struct {
	to       *Variant
	fraction float64
}

// Picker routes requests by one config; it is read-only once made, so safe for concurrent use.
type Picker struct {
	config         *Config
	live           []*Variant // weight > 0, in the config's order
	edges          []int      // cumulative weights of live
	shadow         *Variant   // nil when there is no shadow or its share is 0
	shadowFraction float64
	paired         map[string]pairedCopy // by the live variant's name
}

// NewPicker is the picker of a validated config.
func NewPicker(c *Config) *Picker {
	p := &Picker{config: c, paired: map[string]pairedCopy{}}
	total := 0
	for i := range c.Variants {
		if v := &c.Variants[i]; v.Weight > 0 {
			total += v.Weight
			p.live = append(p.live, v)
			p.edges = append(p.edges, total)
		}
	}
	if c.Shadow != nil {
		if c.Shadow.Percent > 0 {
			p.shadow = c.VariantNamed(c.Shadow.Variant)
		}
		p.shadowFraction = c.Shadow.Percent / 100
	}
	if c.Paired != nil {
		for _, share := range []struct {
			live, other string
			percent     float64
		}{{Candidate, Stable, c.Paired.CandidatePercent}, {Stable, Candidate, c.Paired.StablePercent}} {
			other := c.VariantNamed(share.other)
			if share.percent > 0 && other != nil && c.VariantNamed(share.live) != nil {
				p.paired[share.live] = pairedCopy{other, share.percent / 100}
			}
		}
	}
	return p
}

// Config is the config the picker routes by.
func (p *Picker) Config() *Config { return p.config }

// liveVariant is the live variant of a bucket in [0, 100): the first whose cumulative weight exceeds it.
func (p *Picker) liveVariant(bucket float64) *Variant {
	i := sort.Search(len(p.edges), func(i int) bool { return float64(p.edges[i]) > bucket })
	return p.live[min(i, len(p.live)-1)]
}

// Route: draw, mirrorDraw and pairedDraw are uniform in [0, 1); sticky is the sticky header's value ("" = none).
func (p *Picker) Route(draw, mirrorDraw, pairedDraw float64, sticky string) Route {
	bucket := draw * 100
	if sticky != "" {
		bucket = StickyBucket(sticky)
	}
	live := p.liveVariant(bucket)
	if p.shadow != nil && p.shadow.Name != live.Name && mirrorDraw < p.shadowFraction {
		return Route{Live: live, Shadow: p.shadow}
	}
	if paired, ok := p.paired[live.Name]; ok && pairedDraw < paired.fraction {
		return Route{Live: live, Paired: paired.to}
	}
	return Route{Live: live}
}
