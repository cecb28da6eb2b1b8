package main

// Role names of the variants: router.json's variants[*].name, shadow.variant.
const (
	Stable    = "stable"
	Candidate = "candidate"
)

// ConnectionMaxAge: the router replaces every connection to an upstream within this long of opening it (the other
// half of the contract is the operator's TorchServe preStop wait; docs/contracts.md).
const ConnectionMaxAgeSeconds = 5.0

// Variant is one entry of router.json's `variants`, upstream resolved.
type Variant struct {
	Name     string
	Revision string
	Version  string
	Upstream string // scheme://host:port
	Weight   int
}

// Shadow: live traffic copied to Variant (percent); clients never see those answers.
type Shadow struct {
	Variant string
	Percent float64
}

// Paired copies: CandidatePercent of candidate-routed requests are copied to stable, StablePercent of
// stable-routed requests to the candidate.
type Paired struct {
	CandidatePercent float64
	StablePercent    float64
}

// Config is a validated router.json as the request path reads it.
type Config struct {
	Namespace    string
	VisionModel  string
	Model        string
	Variants     []Variant
	Shadow       *Shadow
	StickyHeader string // lower-cased; "" when none
	Paired       *Paired
}

// VariantNamed returns the variant with that name, or nil.
func (c *Config) VariantNamed(name string) *Variant {
	for i := range c.Variants {
		if c.Variants[i].Name == name {
			return &c.Variants[i]
		}
	}
	return nil
}
