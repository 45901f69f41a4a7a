package registry

import (
	"bytes"
	_ "embed"
	"sync"
)

//go:embed sample/bacgiang.json
var sampleJSON []byte

var sample = sync.OnceValue(func() *Registry {
	r, err := Parse(bytes.NewReader(sampleJSON))
	if err != nil {
		panic("registry: embedded sample is invalid: " + err.Error())
	}
	return r
})

// Sample returns the embedded sample registry of Bắc Giang province for the
// Resolution 111-NQ/TU period (sample/bacgiang.json). The Registry is shared
// and read-only. Sample panics only if the embedded file is invalid, which
// the package tests rule out.
func Sample() *Registry { return sample() }

// SampleJSON returns a copy of the embedded sample registry file.
func SampleJSON() []byte { return bytes.Clone(sampleJSON) }
