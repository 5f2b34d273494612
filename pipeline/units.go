package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// duration decodes a positive Go duration such as 90s, 10m or 1h30m.
func (d *decoder) duration(n *yaml.Node, field string, def time.Duration) time.Duration {
	s, ok := d.str(n, field, lastKey(field)+": 10m")
	if !ok {
		return def
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil && deref(n).Tag == "!!int":
		d.errorf(n, "add a unit: "+s+"s or "+s+"m", "%s: %s has no unit", field, quote(s))
	case err != nil:
		d.errorf(n, "write a duration such as 90s, 10m or 1h30m", "%s: %s is not a duration", field, quote(s))
	case v <= 0:
		d.errorf(n, "write a positive duration such as 10m", "%s: %s is not positive", field, quote(s))
	default:
		return v
	}
	return def
}

// ParseSize parses a size in bytes: a number with an optional unit K, M, G or
// T (also written KB, KiB, k, ...). As in Docker, every unit is a power of
// 1024: 512M is 512 MiB. Fractions are allowed: 1.5G.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	lower := strings.ToLower(t)
	for _, suf := range []string{"ib", "b"} {
		if strings.HasSuffix(lower, suf) {
			lower = strings.TrimSuffix(lower, suf)
			break
		}
	}
	mult := float64(1)
	if lower != "" {
		if i := strings.IndexByte("kmgt", lower[len(lower)-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			lower = lower[:len(lower)-1]
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(lower), 64)
	if err != nil || math.IsNaN(f) || f < 0 || strings.ContainsAny(lower, "xXpP_") {
		return 0, fmt.Errorf("%q is not a size: write for example 512M, 2G or 1048576", s)
	}
	v := f * mult
	if v >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// ParseBandwidth parses a rate in bytes per second: a size, optionally
// followed by /s (10MB/s, 512K/s, 1G).
func ParseBandwidth(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "/S")
	v, err := ParseSize(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a bandwidth: write for example 10MB/s or 500K/s", s)
	}
	return v, nil
}

// ParseCPUs parses a number of CPUs: 2, 1.5, or Kubernetes' millicpus 500m.
func ParseCPUs(s string) (float64, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if m, ok := strings.CutSuffix(t, "m"); ok {
		t, scale = m, 0.001
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(t, "xXpP_") {
		return 0, fmt.Errorf("%q is not a number of CPUs: write for example 2, 1.5 or 500m", s)
	}
	f *= scale
	if f <= 0 || f > 4096 {
		return 0, fmt.Errorf("%q CPUs is out of range: write a number above 0 and at most 4096", s)
	}
	return f, nil
}
