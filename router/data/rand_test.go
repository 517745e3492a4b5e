package data

import "crypto/rand"

// cryptoRand is crypto/rand as an io.Reader value usable in table tests.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
