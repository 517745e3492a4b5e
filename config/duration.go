package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a span of time written in YAML as a Go duration string: "90s",
// "10m", "1h30m", "500ms". A bare 0 (or "0") means zero.
//
// Plain numbers other than 0 are rejected on purpose: "600" reads as seconds
// to i2pd users and as milliseconds to Java I2P users (whose idle timeouts
// are in ms), so the unit must be written. Negative durations are rejected.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d the way time.Duration does ("10m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// plainNumber is a number without a unit.
var plainNumber = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$`)

// ParseDuration parses a duration as written in a config file.
func ParseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if plainNumber.MatchString(s) {
		f, err := strconv.ParseFloat(s, 64)
		switch {
		case err != nil:
			return 0, fmt.Errorf("%q is not a duration: %w", s, err)
		case f < 0:
			return 0, fmt.Errorf("%s is negative", s)
		case f > 0:
			return 0, fmt.Errorf("%s has no unit: write e.g. \"%ss\" for seconds (a plain number could mean seconds or milliseconds)", s, s)
		}
		return 0, nil
	}
	t, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write e.g. \"90s\", \"10m\", \"1h30m\" or 0", s)
	}
	if t < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return Duration(t), nil
}

// UnmarshalYAML lets Duration be used with plain yaml.Unmarshal too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := durationFromNode(n)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a duration string, which Parse reads back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func durationFromNode(n *yaml.Node) (Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("expected a duration like \"10m\", found %s", describe(n))
	}
	switch n.ShortTag() {
	case "!!null":
		return 0, nil
	case "!!str", "!!int", "!!float":
		return ParseDuration(n.Value)
	}
	return 0, fmt.Errorf("%q is not a duration: write e.g. \"90s\", \"10m\", \"1h30m\" or 0", n.Value)
}
